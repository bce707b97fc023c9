//! Array graphs run unchanged on worker processes: every task is a
//! registered kernel. (`harness = false`: `main` calls `init()` first, so a
//! worker process, which runs this same binary, serves tasks instead.)

use rask_array::{self as ra, Axes};
use rask_client::Client;

fn main() {
    rask_distributed::init();
    let procs = Client::processes(2);
    let threads = Client::threads();

    let x = ra::random(3, &[40, 30], [16, 8]).expect("random");
    let y = x
        .add(&x.T().rechunk([8, 16]).expect("rechunk").T())
        .expect("add");
    let r = y
        .mul(0.5)
        .and_then(|t| t.mean(0))
        .and_then(|t| t.slice(&[ra::Sel::step(-2)]))
        .expect("graph");
    let a = r.compute::<f64, _>(&procs).expect("processes");
    let b = r.compute::<f64, _>(&threads).expect("threads");
    assert_eq!(a, b);

    let m = x
        .matmul(&x.T())
        .expect("matmul")
        .argmax(Some(1))
        .expect("argmax");
    assert_eq!(
        m.compute::<i64, _>(&procs).expect("processes"),
        m.compute::<i64, _>(&threads).expect("threads")
    );
    let s = x.gt(0.5).expect("gt").any(Axes::All).expect("any");
    assert!(s.compute_scalar::<bool, _>(&procs).expect("processes"));
    println!("test result: ok. 1 passed; 0 failed");
}
