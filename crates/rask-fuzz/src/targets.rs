//! Every target by name: the same names as `fuzz/fuzz_targets/*.rs` and
//! the folders of `fuzz/corpus/`.

/// A target: its name, its body, and its valid inputs (the seed corpus).
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The name (`cargo fuzz run NAME`).
    pub name: &'static str,
    /// The body: panics on a finding.
    pub run: fn(&[u8]),
    /// Valid inputs, written to `fuzz/corpus/NAME/` by `seed-corpus`.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// All targets.
pub const TARGETS: &[Target] = &[
    Target {
        name: "wire_frames",
        run: crate::wire::frames,
        seeds: || crate::wire::valid_inputs("wire_frames"),
    },
    Target {
        name: "handshake_server",
        run: crate::wire::handshake_as_server,
        seeds: || crate::wire::valid_inputs("handshake_server"),
    },
    Target {
        name: "handshake_client",
        run: crate::wire::handshake_as_client,
        seeds: || crate::wire::valid_inputs("handshake_client"),
    },
    Target {
        name: "value_codec",
        run: crate::codec::value,
        seeds: crate::codec::valid_inputs,
    },
    Target {
        name: "npy",
        run: crate::readers::npy,
        seeds: || crate::readers::valid_inputs("npy"),
    },
    Target {
        name: "csv",
        run: crate::readers::csv,
        seeds: || crate::readers::valid_inputs("csv"),
    },
    Target {
        name: "parquet",
        run: crate::readers::parquet,
        seeds: || crate::readers::valid_inputs("parquet"),
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// A stable name for a corpus file: FNV-1a of its bytes, in hex.
pub fn file_name(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("seed-{h:016x}")
}
