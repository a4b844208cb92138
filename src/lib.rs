//! nftop: `top` for Linux netfilter connection tracking.
//!
//! The library holds everything; `main.rs` only wires it and maps errors
//! to exit codes, so the integration tests can drive the same code.
#![deny(unsafe_code)]

pub mod app;
pub mod budget;
pub mod cli;
pub mod conntrack;
pub mod ctentry;
pub mod dns;
pub mod error;
pub mod events;
pub mod filter;
pub mod flow;
pub mod flows;
pub mod health;
pub mod hostview;
pub mod infile;
pub mod ipfix;
pub mod kernel;
pub mod keys;
pub mod line;
pub mod metrics;
pub mod names;
pub mod netlink;
pub mod nl;
pub mod opts;
pub mod out;
pub mod privacy;
pub mod render;
pub mod route;
pub mod select;
pub mod settings;
pub mod sys;
pub mod term;
pub mod text;
pub mod user;
pub mod view;
pub mod vocab;
