//! Trace settings from the standard OpenTelemetry variables, read through [`Env`] like every
//! other setting, so a bad value names its variable.

use opentelemetry_sdk::trace::Sampler;

use crate::env::{ConfigError, Env};

/// Default `service.name`.
pub const DEFAULT_SERVICE_NAME: &str = "agenthost";

/// How spans are exported and described.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `OTEL_SDK_DISABLED=true` turns tracing off: no spans, and outbound calls forward the
    /// inbound trace headers as they are.
    pub disabled: bool,
    /// OTLP/HTTP traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `None` (no export) when neither is set or
    /// tracing is disabled.
    pub otlp_traces_url: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,...`).
    pub otlp_headers: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME`, else `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else `agenthost`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES` (`k=v,...`, values percent-decoded).
    pub resource: Vec<(String, String)>,
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`).
    pub sampler: Sampler,
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`: record message content on spans.
    pub capture_content: bool,
    /// `FOUNDRY_PROJECT_ARM_ID`, stamped as `microsoft.foundry.project.id`.
    pub project_arm_id: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            disabled: false,
            otlp_traces_url: None,
            otlp_headers: Vec::new(),
            service_name: DEFAULT_SERVICE_NAME.into(),
            resource: Vec::new(),
            sampler: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            capture_content: false,
            project_arm_id: None,
        }
    }
}

fn invalid(var: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError { source_name: var.into(), value: value.into(), reason: reason.into() }
}

impl Settings {
    /// Reads the variables from `env`.
    pub fn from_env(env: &dyn Env) -> Result<Settings, ConfigError> {
        let get = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let flag = |k: &str| -> Result<bool, ConfigError> {
            match get(k).map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(invalid(k, &get(k).unwrap_or_default(), "expected true or false")),
            }
        };
        for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(p) = get(var)
                && p != "http/protobuf"
            {
                return Err(invalid(var, &p, "only http/protobuf is supported"));
            }
        }
        let url = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(url), _) => Some(checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)?),
            (None, Some(base)) => {
                let base = checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
                Some(format!("{}/v1/traces", base.trim_end_matches('/')))
            }
            (None, None) => None,
        };
        let headers_var = ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"];
        let otlp_headers = match headers_var.iter().find_map(|v| get(v).map(|h| (*v, h))) {
            Some((var, h)) => pairs(&h).ok_or_else(|| invalid(var, "(not shown)", "expected key=value,..."))?,
            None => Vec::new(),
        };
        let mut resource = match get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(r) => pairs(&r).ok_or_else(|| invalid("OTEL_RESOURCE_ATTRIBUTES", &r, "expected key=value,..."))?,
            None => Vec::new(),
        };
        let from_resource = resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone());
        resource.retain(|(k, _)| k != "service.name");
        let disabled = flag("OTEL_SDK_DISABLED")?;
        Ok(Settings {
            disabled,
            otlp_traces_url: if disabled { None } else { url },
            otlp_headers,
            service_name: get("OTEL_SERVICE_NAME").or(from_resource).unwrap_or_else(|| DEFAULT_SERVICE_NAME.into()),
            resource,
            sampler: sampler(get("OTEL_TRACES_SAMPLER").as_deref(), get("OTEL_TRACES_SAMPLER_ARG").as_deref())?,
            capture_content: flag("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")?,
            project_arm_id: get("FOUNDRY_PROJECT_ARM_ID"),
        })
    }

    /// The configured sampler.
    pub fn sampler(&self) -> Sampler {
        self.sampler.clone()
    }
}

fn checked_url(var: &str, url: String) -> Result<String, ConfigError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://")) && url.parse::<http::Uri>().is_ok();
    if ok { Ok(url) } else { Err(invalid(var, &url, "expected an http:// or https:// URL")) }
}

/// `OTEL_TRACES_SAMPLER` and its argument, as the OpenTelemetry specification defines them.
fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match arg {
            None => Ok(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(invalid("OTEL_TRACES_SAMPLER_ARG", a, "expected a ratio from 0 to 1")),
            },
        }
    };
    let parent = |s: Sampler| Sampler::ParentBased(Box::new(s));
    Ok(match name.unwrap_or("parentbased_always_on") {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_on" => parent(Sampler::AlwaysOn),
        "parentbased_always_off" => parent(Sampler::AlwaysOff),
        "parentbased_traceidratio" => parent(Sampler::TraceIdRatioBased(ratio()?)),
        other => {
            return Err(invalid(
                "OTEL_TRACES_SAMPLER",
                other,
                "expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
            ));
        }
    })
}

/// `k=v,k2=v2` with percent-encoded values (W3C baggage style, as OTel uses for these variables).
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=')?;
        let k = k.trim();
        if k.is_empty() {
            return None;
        }
        out.push((k.to_string(), percent_decode(v.trim())?));
    }
    Some(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Vars(HashMap<&'static str, &'static str>);

    impl Env for Vars {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| v.to_string())
        }
    }

    fn settings(vars: &[(&'static str, &'static str)]) -> Result<Settings, ConfigError> {
        Settings::from_env(&Vars(vars.iter().copied().collect()))
    }

    #[test]
    fn defaults_export_nothing_and_sample_parent_based() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.otlp_traces_url, s.service_name.as_str(), s.capture_content), (None, "agenthost", false));
        assert_eq!(format!("{:?}", s.sampler), format!("{:?}", Sampler::ParentBased(Box::new(Sampler::AlwaysOn))));
    }

    #[test]
    fn endpoints_resources_and_headers() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x=1"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=prod"),
            ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRUE"),
        ])
        .unwrap();
        assert_eq!(s.otlp_traces_url.as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(s.otlp_headers, [("api-key".to_string(), "a b".to_string()), ("x".into(), "1".into())]);
        assert_eq!(s.service_name, "from-attrs");
        assert_eq!(s.resource, [("deployment.environment".to_string(), "prod".to_string())]);
        assert!(s.capture_content);
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=other"),
        ])
        .unwrap();
        assert_eq!((s.otlp_traces_url.as_deref(), s.service_name.as_str()), (Some("https://c/custom"), "svc"));
        let off = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]);
        let off = off.unwrap();
        assert_eq!((off.otlp_traces_url, off.disabled), (None, true));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let name = |vars: &[(&'static str, &'static str)]| settings(vars).unwrap_err().source_name;
        assert_eq!(name(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]), "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert_eq!(name(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]), "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert_eq!(name(&[("OTEL_TRACES_SAMPLER", "sometimes")]), "OTEL_TRACES_SAMPLER");
        assert_eq!(
            name(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")]),
            "OTEL_TRACES_SAMPLER_ARG"
        );
        assert_eq!(
            name(&[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "yes please")]),
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
        );
        let ratio =
            settings(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")]);
        assert!(matches!(ratio.unwrap().sampler, Sampler::ParentBased(_)));
    }
}
