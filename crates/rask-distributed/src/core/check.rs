//! [`Core::check`]: the invariants of the module docs, verified (the
//! simulator calls it after every step).

use super::{Core, St};

impl Core {
    /// Checks the invariants in the module docs; an error says which broke.
    pub fn check(&self) -> Result<(), String> {
        for (slot, t) in self.tasks.iter().enumerate() {
            if t.state == St::Free {
                continue;
            }
            let not_in_memory = t
                .deps()
                .iter()
                .filter(|&&d| self.task(d).state != St::Memory)
                .count() as u32;
            match t.state {
                St::Waiting if t.waiting != not_in_memory => {
                    return Err(format!(
                        "task {slot} waits for {} inputs but {not_in_memory} are not in memory",
                        t.waiting
                    ))
                }
                St::Ready if not_in_memory != 0 => {
                    return Err(format!(
                        "task {slot} is ready with {not_in_memory} inputs missing"
                    ))
                }
                St::Processing(w) if !self.workers[w].alive => {
                    return Err(format!("task {slot} is processing on dead worker {w}"))
                }
                St::Memory if !t.has_value() => {
                    return Err(format!("task {slot} is in memory nowhere"))
                }
                _ => {}
            }
            if t.state != St::Memory && (t.inline.is_some() || !t.holders.is_empty()) {
                return Err(format!("task {slot} holds a value in state {:?}", t.state));
            }
            if let Some(h) = t.holders.iter().find(|&&h| !self.workers[h].alive) {
                return Err(format!("task {slot} is held by dead worker {h}"));
            }
        }
        for (w, wk) in self.workers.iter().enumerate() {
            if !wk.alive && wk.in_flight != 0 {
                return Err(format!("dead worker {w} has {} in flight", wk.in_flight));
            }
        }
        Ok(())
    }
}
