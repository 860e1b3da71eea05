//! Logging through `tracing`: human-readable by default; with
//! `TESSERA_LOG_FORMAT=json`, one JSON object per line. Every JSON line has
//! `timestamp`, `level`, `target`, `message` and `request_id` (`null`
//! outside a request), then the event's own fields; keys are unique by
//! construction (a field that would shadow one of those five is written as
//! `field.<name>`), and the fields a kind of line always carries are `null`
//! when absent rather than missing. Tests stay silent unless `TEST_LOG` is
//! set.

use std::fmt;
use std::io::IsTerminal as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Keys every JSON line starts with; event fields never overwrite them.
const RESERVED: &[&str] = &["timestamp", "level", "target", "message", "request_id"];

/// Fields that lines of a target always carry, `null` when the event
/// leaves them out (an audit event without a client address, say).
const ALWAYS: &[(&str, &[&str])] = &[
    ("tessera::audit", &["kind", "actor", "address", "object", "detail"]),
    ("tessera::access", &["client", "method", "path", "route", "status", "duration_ms"]),
];

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter).with(RequestIdLayer);
    let _ = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).event_format(JsonLines))
            .try_init(),
    };
}

/// The request id of a `request` span, kept in the span's extensions so
/// every event inside it can name its request.
struct RequestId(String);

struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut found = FindRequestId(None);
        attrs.record(&mut found);
        if let (Some(request_id), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }
}

struct FindRequestId(Option<String>);

impl Visit for FindRequestId {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// One JSON object per event.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let request_id = ctx.event_scope().and_then(|scope| {
            scope.from_root().find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone()))
        });
        let mut fields = JsonFields(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        line.insert("message".into(), fields.0.remove("message").unwrap_or(Value::Null));
        line.insert("request_id".into(), request_id.map_or(Value::Null, Value::String));
        if let Some((_, always)) = ALWAYS.iter().find(|(target, _)| *target == metadata.target()) {
            for key in *always {
                fields.0.entry((*key).to_owned()).or_insert(Value::Null);
            }
        }
        for (key, value) in fields.0 {
            let key = if RESERVED.contains(&key.as_str()) { format!("field.{key}") } else { key };
            line.insert(key, value);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values: numbers and booleans as themselves,
/// everything else as a string.
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let number = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_owned(), number);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}
