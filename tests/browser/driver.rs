//! A real Chromium driven through chromedriver (WebDriver, via fantoccini), one at a time.
//!
//! The browser and driver are the Debian packages `chromium` and `chromium-driver` (`.ci/run`
//! installs them). `CHROME_BIN` and `CHROMEDRIVER` override where they are looked for. When one
//! is missing the test prints that it skipped, except under `CI=true`, where it fails.
//!
//! Waiting is done in the page: [`Browser::until`] runs a script that resolves when a condition
//! holds, re-checked on every DOM mutation (a `MutationObserver`), so no test sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, TimeoutConfiguration, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Browser tests run one at a time: a Chromium per test on a small CI machine is plenty.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a condition may take to become true in the page.
const WAIT: Duration = Duration::from_secs(20);

/// A program on `PATH` (or the path in `var`), the first of `names` found.
fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// A chromedriver process (killed, with the Chromium it started, on drop) and a session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    main: WindowHandle,
    shots: PathBuf,
    test: &'static str,
    step: u32,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or returns `None` (after saying so) when
    /// they are not installed and this is not CI.
    pub async fn start(test: &'static str) -> Option<Browser> {
        let chrome = program("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"]);
        let driver = program("CHROMEDRIVER", &["chromedriver"]);
        let (Some(chrome), Some(driver)) = (chrome, driver) else {
            let what = "chromium and chromedriver (Debian: apt-get install chromium chromium-driver)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but {what} are not installed: .ci/run must install them");
            }
            eprintln!("skipped {test}: {what} not found; install them to run the browser tests");
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let (driver, url) = spawn_driver(&driver);
        let caps = capabilities(&chrome);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot start a Chromium session through {url}: {e}"));
        client
            .update_timeouts(TimeoutConfiguration::new(Some(WAIT), Some(WAIT), Some(Duration::ZERO)))
            .await
            .expect("timeouts");
        client.set_window_size(1280, 900).await.expect("window size");
        let main = client.window().await.expect("window handle");
        let shots = screenshot_dir();
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Some(Browser { client, driver, main, shots, test, step: 0, _turn: turn })
    }

    /// Opens the playground of the server at `base` and waits for its script to have run.
    pub async fn open(&self, base: &str) {
        self.client.goto(&format!("{base}/playground")).await.expect("open the playground");
        self.until("the toolbox panel", "document.querySelector('#readiness').textContent !== ''").await;
    }

    /// Waits until the JavaScript expression `cond` is truthy; returns its value.
    pub async fn until(&self, what: &str, cond: &str) -> Value {
        let script = format!(
            r#"const done = arguments[arguments.length - 1];
            const check = () => {{ try {{ return ({cond}); }} catch (e) {{ return null; }} }};
            const now = check();
            if (now) {{ done(now); return; }}
            const obs = new MutationObserver(() => {{
              const v = check();
              if (v) {{ obs.disconnect(); done(v); }}
            }});
            obs.observe(document.documentElement,
              {{ subtree: true, childList: true, attributes: true, characterData: true }});"#
        );
        match self.client.execute_async(&script, vec![]).await {
            Ok(v) => v,
            Err(e) => panic!("timed out waiting for {what} ({cond}): {e}\npage:\n{}", self.transcript().await),
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The transcript as text, one entry per line (for assertions and failure messages).
    pub async fn transcript(&self) -> String {
        let v = self
            .client
            .execute(
                "return [...document.querySelectorAll('#transcript > li')].map(li => \
                 `[${li.dataset.testid}${li.dataset.role ? ' ' + li.dataset.role : ''}${li.dataset.status ? ' ' + li.dataset.status : ''}] ${li.innerText.replace(/\\s+/g, ' ').trim()}`).join('\\n')",
                vec![],
            )
            .await;
        v.ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Types `text` into the prompt and presses Enter.
    pub async fn send(&self, text: &str) {
        let prompt = self.client.find(Locator::Css("[data-testid=prompt]")).await.expect("prompt");
        prompt.click().await.expect("focus the prompt");
        prompt.send_keys(text).await.expect("type");
        // Enter on its own, after any modifier in `text` was released.
        prompt.send_keys(&char::from(fantoccini::key::Key::Enter).to_string()).await.expect("press Enter");
    }

    /// Picks `user` in the user picker; a name other than alice and bob goes through "custom".
    pub async fn pick_user(&self, user: &str) {
        let picker = self.client.find(Locator::Css("[data-testid=user-picker]")).await.expect("user picker");
        if picker.prop("value").await.expect("picker value").as_deref() == Some(user) {
            return;
        }
        if user == "alice" || user == "bob" {
            picker.select_by_value(user).await.expect("select user");
        } else {
            picker.select_by_value("custom").await.expect("select custom");
            let custom = self.client.find(Locator::Css("[data-testid=custom-user]")).await.expect("custom user box");
            custom.send_keys(&format!("{user}{}", char::from(fantoccini::key::Key::Tab))).await.expect("type user");
        }
        self.until(
            "the new conversation",
            &format!("document.querySelector('#transcript').innerText.includes('New conversation as {user}.')"),
        )
        .await;
    }

    /// Saves a screenshot of the current window as `<test>-<nn>-<name>.png`.
    pub async fn shot(&mut self, name: &str) -> PathBuf {
        self.step += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{}-{:02}-{name}.png", self.test, self.step));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Waits (polling the driver: windows raise no event it could wait on) until a second
    /// window is open, and switches to it.
    pub async fn switch_to_popup(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let windows = self.client.windows().await.expect("windows");
            if let Some(popup) = windows.into_iter().find(|w| *w != self.main) {
                self.client.switch_to_window(popup).await.expect("switch to the popup");
                return;
            }
            assert!(Instant::now() < deadline, "no popup opened\npage:\n{}", self.transcript().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes the current (popup) window and switches back to the playground.
    pub async fn close_popup(&self) {
        self.client.close_window().await.expect("close the popup");
        self.client.switch_to_window(self.main.clone()).await.expect("back to the playground");
    }

    /// Makes `window.open` fail as a popup blocker does.
    pub async fn block_popups(&self) {
        self.js("window.open = () => null; return true;", vec![]).await;
    }

    /// Ends the session (Chromium exits) and the driver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills chromedriver's whole process group: the Chromium it started goes with it, even when a
/// test panicked before ending the session.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
}

/// Starts chromedriver on a free loopback port and waits for its "started" line.
fn spawn_driver(path: &Path) -> (Child, String) {
    use std::os::unix::process::CommandExt;
    let port = agenthost_e2e::free_port();
    let mut child = Command::new(path)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("started successfully") => break,
            Some(Ok(line)) => seen.push_str(&format!("{line}\n")),
            _ => panic!("chromedriver exited before it started:\n{seen}"),
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://127.0.0.1:{port}"))
}

/// Headless Chromium that talks to nothing but loopback: no sync, updates, metrics or other
/// background requests.
fn capabilities(chrome: &Path) -> Capabilities {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--metrics-recording-only",
        "--password-store=basic",
        "--lang=en-US",
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chrome.to_string_lossy(), "args": args },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

/// `<target>/playground-screenshots`, next to the profile directory this test runs from.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target
    let target = exe.ancestors().nth(3).expect("target dir");
    target.join("playground-screenshots")
}
