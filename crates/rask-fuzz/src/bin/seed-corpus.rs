//! Writes the seed corpus: `cargo run -p rask-fuzz --bin seed-corpus`
//! fills `fuzz/corpus/TARGET/` with each target's valid inputs (existing
//! files, such as those the fuzzers added, are kept).

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for t in rask_fuzz::targets::TARGETS {
        let dir = root.join(t.name);
        std::fs::create_dir_all(&dir)?;
        let seeds = (t.seeds)();
        for s in &seeds {
            std::fs::write(dir.join(rask_fuzz::targets::file_name(s)), s)?;
        }
        println!("{}: {} seeds", t.name, seeds.len());
    }
    Ok(())
}
