//! Turning raw text into typed values, with errors that name the flag or variable the text came
//! from. Flag and variable names are looked up in the clap definition of [`ServeArgs`], so each
//! is written once, in `cli.rs`.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};

use super::ConfigError;
use crate::cli::ServeArgs;

/// Parses `ServeArgs` values, knowing where each came from.
pub(super) struct Reader<'a> {
    matches: Option<&'a ArgMatches>,
    command: Command,
}

impl<'a> Reader<'a> {
    pub(super) fn new(matches: Option<&'a ArgMatches>) -> Self {
        Reader { matches, command: ServeArgs::augment_args(Command::new("serve")) }
    }

    /// `--flag` of the argument `id`.
    pub(super) fn flag(&self, id: &str) -> String {
        self.arg(id).and_then(|a| a.get_long()).map_or_else(|| id.to_string(), |l| format!("--{l}"))
    }

    /// The environment variable of the argument `id`.
    pub(super) fn var(&self, id: &str) -> String {
        self.arg(id).and_then(|a| a.get_env()).map_or_else(|| self.flag(id), |e| e.to_string_lossy().into_owned())
    }

    fn arg(&self, id: &str) -> Option<&clap::Arg> {
        self.command.get_arguments().find(|a| a.get_id() == id)
    }

    /// Where the value of `id` came from: its variable when clap read it from the environment,
    /// else its flag.
    pub(super) fn origin(&self, id: &str) -> String {
        match self.matches.and_then(|m| m.value_source(id)) {
            Some(ValueSource::EnvVariable) => self.var(id),
            _ => self.flag(id),
        }
    }

    /// `default` when `raw` is absent, else `check` of the trimmed text.
    pub(super) fn parse<T>(
        &self,
        raw: &Option<String>,
        id: &str,
        default: T,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match raw {
            None => Ok(default),
            Some(v) => {
                check(v.trim()).map_err(|reason| ConfigError { source_name: self.origin(id), value: v.clone(), reason })
            }
        }
    }
}

pub(super) fn parse_port(v: &str) -> Result<u16, String> {
    match v.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err("expected a port number from 1 to 65535".into()),
    }
}

pub(super) fn positive(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive whole number".into()),
    }
}

pub(super) fn positive_secs(v: &str) -> Result<std::time::Duration, String> {
    positive(v).map(std::time::Duration::from_secs)
}

pub(super) fn positive_usize(v: &str) -> Result<usize, String> {
    positive(v).map(|n| n as usize)
}

pub(super) fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub(super) fn comma_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

pub(super) fn non_negative(v: &str) -> Result<u64, String> {
    v.parse::<u64>().map_err(|_| "expected a whole number of seconds (0 or more)".into())
}
