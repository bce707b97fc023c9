//! The wire: frames and the handshake. (Being written.)
