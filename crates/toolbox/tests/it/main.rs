//! Integration tests of the toolbox layer against the in-process mock Foundry toolbox proxy.

mod calls;
mod markers;
mod refresh;
mod startup;
mod support;
mod users;
mod wire;
