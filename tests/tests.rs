//! One integration-test binary (one link step on a 2-core machine).
//! Namespace tests need root; they skip with a message without it, and
//! fail instead when NFTOP_REQUIRE_NETNS=1 (CI).

mod common;
mod decode;
mod e2e;
