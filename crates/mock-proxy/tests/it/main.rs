//! Integration tests of the mock proxy, over real HTTP with an rmcp client and plain reqwest.

mod consent;
mod faults;
mod log;
mod mcp;
mod scenario;
mod support;
