//! Writes the seed corpus: `cargo run -p rask-fuzz --bin seed-corpus`
//! fills `fuzz/corpus/TARGET/` with each target's valid inputs (existing
//! files, such as those the fuzzers added, are kept; the recorded
//! handshakes, which differ on every run, are made once).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for t in rask_fuzz::targets::TARGETS {
        let dir = root.join(t.name);
        std::fs::create_dir_all(&dir)?;
        let seeds = (t.seeds)();
        // A recorded handshake differs every time (fresh nonces): keep the
        // one recorded before rather than add more.
        let recorded = std::fs::read_dir(&dir)?.next().is_some();
        if recorded && seeds != (t.seeds)() {
            println!("{}: kept", t.name);
            continue;
        }
        for s in &seeds {
            std::fs::write(dir.join(rask_fuzz::targets::file_name(s)), s)?;
        }
        println!("{}: {} seeds", t.name, seeds.len());
    }
    Ok(())
}
