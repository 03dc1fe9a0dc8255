//! Where each configured toolbox lives: the project endpoint, `TOOLBOX_ENDPOINT`, and the
//! validation of both (and of every configured name) before anything starts.

use percent_encoding::percent_decode_str;

use crate::names::{proxy_url, validate_segment};
use crate::settings::{ToolboxConfigError, ToolboxSettings};

/// The resolved layout.
#[derive(Debug, PartialEq, Eq)]
pub enum Layout {
    /// No endpoint at all: toolboxes are disabled.
    Disabled,
    /// Toolboxes are enabled.
    Enabled {
        /// Base for marker toolboxes: the project endpoint, else the part of `TOOLBOX_ENDPOINT`
        /// before `/toolboxes/`.
        project: Option<String>,
        /// Configured toolboxes: (name, version, proxy URL), in order.
        toolboxes: Vec<(String, Option<String>, String)>,
    },
}

/// The parts of a `TOOLBOX_ENDPOINT`.
#[derive(Debug, PartialEq, Eq)]
struct ToolboxEndpoint {
    url: String,
    name: Option<String>,
    version: Option<String>,
    base: Option<String>,
}

/// Resolves and validates endpoints and names (already trimmed and de-duplicated).
pub fn layout(settings: &ToolboxSettings, names: &[String]) -> Result<Layout, ToolboxConfigError> {
    for name in names {
        validate_segment(name)
            .map_err(|reason| ToolboxConfigError::InvalidToolboxName { name: name.clone(), reason })?;
    }
    let project = non_blank(settings.project_endpoint.as_deref()).map(project_endpoint).transpose()?;
    let single = non_blank(settings.toolbox_endpoint.as_deref()).map(toolbox_endpoint).transpose()?;
    let Some(single) = single else {
        return Ok(match project {
            None => Layout::Disabled,
            Some(project) => Layout::Enabled {
                toolboxes: names.iter().map(|n| (n.clone(), None, proxy_url(&project, n, None))).collect(),
                project: Some(project),
            },
        });
    };
    let own_name = match names.first().or(single.name.as_ref()) {
        Some(name) => name.clone(),
        None => {
            return Err(invalid_toolbox_endpoint(
                &single.url,
                "cannot name its toolbox: set TOOLBOX_NAME or use a .../toolboxes/{name}/mcp URL",
            ));
        }
    };
    let base = project.or(single.base.clone());
    let mut toolboxes = vec![(own_name.clone(), single.version.clone(), single.url.clone())];
    for name in names.iter().filter(|n| !n.eq_ignore_ascii_case(&own_name)) {
        let Some(base) = &base else {
            return Err(invalid_toolbox_endpoint(
                &single.url,
                "serves one toolbox; set FOUNDRY_PROJECT_ENDPOINT for the others",
            ));
        };
        toolboxes.push((name.clone(), None, proxy_url(base, name, None)));
    }
    Ok(Layout::Enabled { project: base, toolboxes })
}

fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// An absolute http(s) URL with a host, no query and no fragment; returned without trailing `/`.
fn project_endpoint(value: &str) -> Result<String, ToolboxConfigError> {
    let invalid = |reason: &str| ToolboxConfigError::InvalidEndpoint {
        setting: "FOUNDRY_PROJECT_ENDPOINT",
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(value).map_err(|e| invalid(&e.to_string()))?;
    check_origin(&url).map_err(invalid)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn check_origin(url: &url::Url) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must be an http(s) URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    Ok(())
}

fn invalid_toolbox_endpoint(value: &str, reason: &str) -> ToolboxConfigError {
    ToolboxConfigError::InvalidEndpoint {
        setting: "TOOLBOX_ENDPOINT",
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Splits `{base}/toolboxes/{name}[/versions/{v}]/mcp[?...]`; other shapes are used verbatim
/// and have no name or base.
fn toolbox_endpoint(value: &str) -> Result<ToolboxEndpoint, ToolboxConfigError> {
    let url = url::Url::parse(value).map_err(|e| invalid_toolbox_endpoint(value, &e.to_string()))?;
    check_origin(&url).map_err(|r| invalid_toolbox_endpoint(value, r))?;
    if url.fragment().is_some() {
        return Err(invalid_toolbox_endpoint(value, "must not have a fragment"));
    }
    let segments: Vec<&str> = url.path().split('/').collect();
    let Some(i) = segments.iter().rposition(|s| *s == "toolboxes") else {
        return Ok(ToolboxEndpoint { url: value.to_owned(), name: None, version: None, base: None });
    };
    let decode = |s: &str| -> Result<String, ToolboxConfigError> {
        let decoded = percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| invalid_toolbox_endpoint(value, "has a path segment that is not UTF-8"))?;
        validate_segment(&decoded)
            .map_err(|reason| invalid_toolbox_endpoint(value, &format!("names a toolbox that {reason}")))?;
        Ok(decoded)
    };
    let (name, version) = match &segments[i + 1..] {
        [name, "mcp"] => (decode(name)?, None),
        [name, "versions", v, "mcp"] => (decode(name)?, Some(decode(v)?)),
        _ => {
            return Ok(ToolboxEndpoint { url: value.to_owned(), name: None, version: None, base: None });
        }
    };
    let mut base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    base.push_str(&segments[..i].join("/"));
    Ok(ToolboxEndpoint { url: value.to_owned(), name: Some(name), version, base: Some(base) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(project: Option<&str>, single: Option<&str>) -> ToolboxSettings {
        ToolboxSettings {
            project_endpoint: project.map(Into::into),
            toolbox_endpoint: single.map(Into::into),
            ..ToolboxSettings::default()
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_endpoint_disables() {
        assert_eq!(layout(&settings(None, None), &names(&["a"])), Ok(Layout::Disabled));
        assert_eq!(layout(&settings(Some("  "), Some("")), &names(&["a"])), Ok(Layout::Disabled));
    }

    #[test]
    fn project_endpoint_builds_urls() {
        let got = layout(&settings(Some("https://p.example/api/projects/x/"), None), &names(&["sales", "hr"]));
        assert_eq!(
            got,
            Ok(Layout::Enabled {
                project: Some("https://p.example/api/projects/x".into()),
                toolboxes: vec![
                    (
                        "sales".into(),
                        None,
                        "https://p.example/api/projects/x/toolboxes/sales/mcp?api-version=v1".into()
                    ),
                    ("hr".into(), None, "https://p.example/api/projects/x/toolboxes/hr/mcp?api-version=v1".into()),
                ],
            })
        );
    }

    #[test]
    fn invalid_endpoints_and_names_are_config_errors() {
        for bad in ["not a url", "ftp://p.example", "https://p.example?x=1", "https://u:p@p.example", "file:///tmp"] {
            assert!(
                matches!(layout(&settings(Some(bad), None), &[]), Err(ToolboxConfigError::InvalidEndpoint { .. })),
                "{bad}"
            );
        }
        let err = layout(&settings(None, None), &names(&["../admin"]));
        assert!(matches!(err, Err(ToolboxConfigError::InvalidToolboxName { .. })), "{err:?}");
    }

    #[test]
    fn toolbox_endpoint_names_its_toolbox() {
        let url = "http://127.0.0.1:9/api/projects/p/toolboxes/demo/versions/3/mcp?api-version=v1";
        assert_eq!(
            layout(&settings(None, Some(url)), &[]),
            Ok(Layout::Enabled {
                project: Some("http://127.0.0.1:9/api/projects/p".into()),
                toolboxes: vec![("demo".into(), Some("3".into()), url.into())],
            })
        );
        // TOOLBOX_NAME labels it; other names go through the derived base.
        assert_eq!(
            layout(&settings(None, Some(url)), &names(&["mine", "other"])),
            Ok(Layout::Enabled {
                project: Some("http://127.0.0.1:9/api/projects/p".into()),
                toolboxes: vec![
                    ("mine".into(), Some("3".into()), url.into()),
                    (
                        "other".into(),
                        None,
                        "http://127.0.0.1:9/api/projects/p/toolboxes/other/mcp?api-version=v1".into()
                    ),
                ],
            })
        );
        // An explicit project endpoint wins as the base.
        let got = layout(&settings(Some("https://p.example/x"), Some(url)), &names(&["demo", "b"]));
        assert!(matches!(
            got,
            Ok(Layout::Enabled { project: Some(ref p), ref toolboxes }) if p == "https://p.example/x"
                && toolboxes[1].2 == "https://p.example/x/toolboxes/b/mcp?api-version=v1"
        ));
    }

    #[test]
    fn toolbox_endpoint_without_a_name_needs_one() {
        let url = "https://gw.example/mcp";
        assert!(matches!(layout(&settings(None, Some(url)), &[]), Err(ToolboxConfigError::InvalidEndpoint { .. })));
        assert_eq!(
            layout(&settings(None, Some(url)), &names(&["tb"])),
            Ok(Layout::Enabled { project: None, toolboxes: vec![("tb".into(), None, url.into())] })
        );
        assert!(matches!(
            layout(&settings(None, Some(url)), &names(&["tb", "second"])),
            Err(ToolboxConfigError::InvalidEndpoint { .. })
        ));
        let traversal = "https://gw.example/toolboxes/..%2fadmin/mcp";
        assert!(matches!(
            layout(&settings(None, Some(traversal)), &[]),
            Err(ToolboxConfigError::InvalidEndpoint { .. })
        ));
    }
}
