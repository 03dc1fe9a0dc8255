//! Opening consent links in a browser: the [`Browser`] seam and the system implementation
//! (`$BROWSER`, else `open` on macOS, else `xdg-open` when a display is set).
//!
//! Links reach a browser only after [`crate::validate_consent_link`] accepted them, and they are
//! passed as a single argument, never through a shell.

use std::io::IsTerminal;
use std::path::Path;
use std::process::{Command, Stdio};

/// Something that can show a link to the person at the keyboard.
pub trait Browser: Send + Sync {
    /// Opens `url`; `false` if that failed.
    fn open(&self, url: &str) -> bool;
    /// Whether offering to open links makes sense (a browser exists and someone is watching).
    fn available(&self) -> bool;
}

/// The desktop browser, offered only when stdin and stdout are terminals.
#[derive(Debug, Clone)]
pub struct SystemBrowser {
    command: Option<Vec<String>>,
    interactive: bool,
}

impl SystemBrowser {
    /// Looks up the browser command and whether the process runs on a terminal.
    pub fn detect() -> Self {
        let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        Self { command: browser_command(std::env::var("BROWSER").ok().as_deref()), interactive }
    }
}

impl Browser for SystemBrowser {
    fn open(&self, url: &str) -> bool {
        let Some(cmd) = &self.command else {
            return false;
        };
        let Some((program, fixed)) = cmd.split_first() else {
            return false;
        };
        let mut args: Vec<String> = fixed.iter().map(|a| a.replace("%s", url)).collect();
        if !fixed.iter().any(|a| a.contains("%s")) {
            args.push(url.to_owned());
        }
        let child =
            Command::new(program).args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        match child {
            Ok(mut child) => {
                // Reap it in the background so no zombie is left behind.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                true
            }
            Err(_) => false,
        }
    }

    fn available(&self) -> bool {
        self.interactive && self.command.is_some()
    }
}

/// The command to run: the first entry of `$BROWSER` (split on `:`, then whitespace), else the
/// platform opener if it is on `PATH`.
fn browser_command(env: Option<&str>) -> Option<Vec<String>> {
    if let Some(first) = env.and_then(|b| b.split(':').find(|s| !s.trim().is_empty())) {
        let parts: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
        if !parts.is_empty() {
            return Some(parts);
        }
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        return Some(vec!["rundll32".to_owned(), "url.dll,FileProtocolHandler".to_owned()]);
    } else {
        // Without a display, xdg-open would fall back to a text browser on our own terminal.
        let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
        if !display {
            return None;
        }
        "xdg-open"
    };
    on_path(opener).then(|| vec![opener.to_owned()])
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| Path::new(&dir).join(program).is_file()))
}
