//! The consent side of a session: showing validated links once, offering the browser, waiting
//! for the person to press Enter, and the non-interactive exit.

use crate::consent::{Consent, validate_consent_link};
use crate::exit::CONSENT_REQUIRED;

use super::{End, Session, SignIn, distinct};

impl Session<'_> {
    /// Shows the distinct valid links, offers the browser, and waits for Enter.
    pub(super) async fn sign_in(&mut self, consents: &[Consent]) -> SignIn {
        let links = self.show_links(consents);
        if links.is_empty() {
            self.warn("error: consent is required, but the server sent no usable sign-in link");
            return SignIn::Skip;
        }
        if !self.args.no_browser && self.browser.available() {
            self.prompt("Open in your browser? [Y/n] ");
            let Some(answer) = self.read_line().await else {
                return SignIn::Quit;
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "/quit" | "/exit" => return SignIn::Quit,
                "/cancel" => return SignIn::Skip,
                "n" | "no" => {}
                _ => self.open_all(&links),
            }
        }
        self.prompt("Press Enter after signing in (/cancel to skip, /quit to leave): ");
        let Some(line) = self.read_line().await else {
            return SignIn::Quit;
        };
        match line.trim() {
            "/quit" | "/exit" => SignIn::Quit,
            "/cancel" => SignIn::Skip,
            _ => SignIn::Resend,
        }
    }

    fn open_all(&mut self, links: &[String]) {
        for link in links {
            if !self.browser.open(link) {
                self.warn("warning: could not open a browser; open the link yourself");
            }
        }
    }

    /// Prints `Sign in to <label>: <link>` once per distinct valid link; reports invalid ones.
    fn show_links(&mut self, consents: &[Consent]) -> Vec<String> {
        let mut links = Vec::new();
        for consent in consents {
            match validate_consent_link(&consent.link) {
                Ok(link) if links.contains(&link) => {}
                Ok(link) => {
                    self.say(&format!("Sign in to {}: {link}", consent.label()));
                    links.push(link);
                }
                Err(why) => {
                    let line =
                        format!("warning: invalid consent link from {} (not shown or opened): {why}", consent.label());
                    self.warn(&line);
                }
            }
        }
        links
    }

    /// `--prompt` and consent: print the links (unless `--json`) and stop with exit 10.
    pub(super) fn consent_required(&mut self, consents: &[Consent]) -> End {
        let labels = distinct(consents.iter().map(Consent::label)).join(", ");
        if self.args.json {
            self.warn(&format!("error: consent required by {labels}; the sign-in links are in the response JSON"));
        } else {
            self.show_links(consents);
            self.warn(&format!("error: consent required by {labels}; sign in with the link above, then run again"));
        }
        End::Failed(CONSENT_REQUIRED)
    }
}
