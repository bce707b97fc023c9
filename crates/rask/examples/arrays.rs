//! README "Chunked arrays": a lazy expression over a seeded 2,000 x 2,000
//! array in 500 x 500 chunks, reduced to one number, and a slice assembled
//! into an `ndarray`.
//!
//! `cargo run --release --example arrays` prints `mean of (x + x.T) summed
//! over columns: 2000.0...` (about 2,000: the mean of a uniform [0, 1) is
//! 0.5) and `slice shape: [1000, 10]`.

use rask::array::{self as ra, Axes, Sel};
use rask::Client;

fn main() -> Result<(), ra::ArrayError> {
    let client = Client::threads();
    let x = ra::random(0, &[2_000, 2_000], 500)?; // seeded uniform [0, 1), 4 x 4 chunks
    let r = x.add(&x.T())?.mean(0)?.sum(Axes::All)?; // lazy: a graph, nothing computed yet
    let v: f64 = r.compute_scalar(&client)?;
    println!("mean of (x + x.T) summed over columns: {v:.1}");
    let m = ra::where_(&x.gt(0.5)?, &x, 0.0)?.slice(&[Sel::step(-2), Sel::range(10, 20)])?;
    let a: ra::ndarray::ArrayD<f64> = m.compute(&client)?; // assembled into an ndarray
    println!("slice shape: {:?}", a.shape());
    Ok(())
}
