//! `--format parquet`: one row per connection, flat typed columns, zstd
//! compressed, written while the capture is read.
//!
//! The columns are [`schema`]'s (docs/parquet.md lists them with their
//! types; a test holds the two together). They say what the JSON record says,
//! flattened: endpoints as an address and a port column each, per-side values
//! as a `client_` and a `server_` column, the timings as `float64` seconds
//! (the decimal value the JSON report writes), times as `timestamp[us, UTC]`,
//! the flags as a `list<string>`. The evidence packets and Zeek's continued
//! rows, nested lists in JSON, are left out: `teardown explain` and the JSON
//! report give them.
//!
//! Rows are gathered in column builders on the writer thread and handed to
//! parquet's [`ArrowWriter`] every [`BATCH_ROWS`] connections; the writer
//! closes a row group every [`ROW_GROUP_ROWS`] rows, so memory holds at most
//! one row group whatever the capture's size. The file's key-value metadata
//! carries `schema_version` ([`crate::report::SCHEMA_VERSION`], the JSON
//! report's) and the tool's name and version.
//!
//! A Parquet file ends with its footer, which readers seek to: the command
//! line writes it to a file only, never to standard output.

use std::io::{self, Write};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
    UInt16Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::Renderer;
use crate::decode::EndpointAddr;
use crate::flow::PacketRef;
use crate::pipeline::Analysis;
use crate::report::sink::{Records, Sink};
use crate::report::{ConnectionReport, SCHEMA_VERSION, Tool};
use crate::time::Timestamp;

/// Rows gathered before they are handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// Rows in a row group (the last one may have fewer).
pub const ROW_GROUP_ROWS: usize = 65_536;
/// The zstd level: 3, zstd's own default (other levels were not measured).
const ZSTD_LEVEL: i32 = 3;

/// The file metadata key holding the report's schema version.
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

/// The columns, in order. With `set`, a first column `set` (the capture
/// set's name, `teardown batch`'s combined file).
pub fn schema(set: bool) -> SchemaRef {
    let text = || DataType::Utf8;
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = Vec::new();
    if set {
        fields.push(Field::new("set", text(), false));
    }
    fields.extend([
        Field::new("id", DataType::UInt64, false),
        Field::new("uid", text(), false),
        Field::new("client_addr", text(), false),
        Field::new("client_port", DataType::UInt16, false),
        Field::new("server_addr", text(), false),
        Field::new("server_port", DataType::UInt16, false),
        Field::new("roles_guessed", DataType::Boolean, false),
        Field::new("first_ts", time(), false),
        Field::new("last_ts", time(), false),
        Field::new("duration", DataType::Float64, false),
        Field::new("client_packets", DataType::UInt64, false),
        Field::new("server_packets", DataType::UInt64, false),
        Field::new("client_bytes", DataType::UInt64, false),
        Field::new("server_bytes", DataType::UInt64, false),
        Field::new("class", text(), false),
        Field::new(
            "flags",
            DataType::List(Arc::new(Field::new("item", text(), true))),
            false,
        ),
        Field::new("client_end_state", text(), false),
        Field::new("server_end_state", text(), false),
        Field::new("closed_by", text(), false),
        Field::new("reset_by", text(), true),
        Field::new("reset_after_fin", DataType::Boolean, true),
        Field::new("handshake_rtt", DataType::Float64, true),
        Field::new("close_duration", DataType::Float64, true),
        Field::new("close_wait", DataType::Float64, true),
        Field::new("close_wait_ongoing", DataType::Boolean, false),
        Field::new("idle_before_close", DataType::Float64, true),
        Field::new("reuse_previous", DataType::UInt64, true),
        Field::new("reuse_gap", DataType::Float64, true),
        Field::new("reuse_time_wait_side", text(), true),
        Field::new("reuse_isn_advanced", DataType::Boolean, true),
        Field::new("reuse_ts_advanced", DataType::Boolean, true),
        Field::new("zeek_conn_state", text(), false),
        Field::new("zeek_history", text(), false),
        Field::new("zeek_duration", DataType::Float64, true),
        Field::new("zeek_orig_state", text(), false),
        Field::new("zeek_resp_state", text(), false),
        Field::new("input", text(), true),
    ]);
    Arc::new(Schema::new(fields))
}

/// The column builders of the rows not yet handed to the writer, in
/// [`schema`]'s order.
struct Columns {
    set: Option<StringBuilder>,
    id: UInt64Builder,
    uid: StringBuilder,
    client_addr: StringBuilder,
    client_port: UInt16Builder,
    server_addr: StringBuilder,
    server_port: UInt16Builder,
    roles_guessed: BooleanBuilder,
    first_ts: TimestampMicrosecondBuilder,
    last_ts: TimestampMicrosecondBuilder,
    duration: Float64Builder,
    client_packets: UInt64Builder,
    server_packets: UInt64Builder,
    client_bytes: UInt64Builder,
    server_bytes: UInt64Builder,
    class: StringBuilder,
    flags: ListBuilder<StringBuilder>,
    client_end_state: StringBuilder,
    server_end_state: StringBuilder,
    closed_by: StringBuilder,
    reset_by: StringBuilder,
    reset_after_fin: BooleanBuilder,
    handshake_rtt: Float64Builder,
    close_duration: Float64Builder,
    close_wait: Float64Builder,
    close_wait_ongoing: BooleanBuilder,
    idle_before_close: Float64Builder,
    reuse_previous: UInt64Builder,
    reuse_gap: Float64Builder,
    reuse_time_wait_side: StringBuilder,
    reuse_isn_advanced: BooleanBuilder,
    reuse_ts_advanced: BooleanBuilder,
    zeek_conn_state: StringBuilder,
    zeek_history: StringBuilder,
    zeek_duration: Float64Builder,
    zeek_orig_state: StringBuilder,
    zeek_resp_state: StringBuilder,
    input: StringBuilder,
    rows: usize,
}

impl Columns {
    fn new(set: bool) -> Columns {
        Columns {
            set: set.then(StringBuilder::new),
            id: UInt64Builder::new(),
            uid: StringBuilder::new(),
            client_addr: StringBuilder::new(),
            client_port: UInt16Builder::new(),
            server_addr: StringBuilder::new(),
            server_port: UInt16Builder::new(),
            roles_guessed: BooleanBuilder::new(),
            first_ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            last_ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            duration: Float64Builder::new(),
            client_packets: UInt64Builder::new(),
            server_packets: UInt64Builder::new(),
            client_bytes: UInt64Builder::new(),
            server_bytes: UInt64Builder::new(),
            class: StringBuilder::new(),
            flags: ListBuilder::new(StringBuilder::new()),
            client_end_state: StringBuilder::new(),
            server_end_state: StringBuilder::new(),
            closed_by: StringBuilder::new(),
            reset_by: StringBuilder::new(),
            reset_after_fin: BooleanBuilder::new(),
            handshake_rtt: Float64Builder::new(),
            close_duration: Float64Builder::new(),
            close_wait: Float64Builder::new(),
            close_wait_ongoing: BooleanBuilder::new(),
            idle_before_close: Float64Builder::new(),
            reuse_previous: UInt64Builder::new(),
            reuse_gap: Float64Builder::new(),
            reuse_time_wait_side: StringBuilder::new(),
            reuse_isn_advanced: BooleanBuilder::new(),
            reuse_ts_advanced: BooleanBuilder::new(),
            zeek_conn_state: StringBuilder::new(),
            zeek_history: StringBuilder::new(),
            zeek_duration: Float64Builder::new(),
            zeek_orig_state: StringBuilder::new(),
            zeek_resp_state: StringBuilder::new(),
            input: StringBuilder::new(),
            rows: 0,
        }
    }

    /// Appends `r`'s row; `set` is the set's name (when the file has the
    /// column), `input` the path of its input, when known.
    fn push(&mut self, r: &ConnectionReport, set: &str, input: Option<&str>) {
        if let Some(b) = &mut self.set {
            b.append_value(set);
        }
        self.id.append_value(r.id);
        self.uid.append_value(r.zeek.row.uid.text().as_str());
        push_endpoint(&mut self.client_addr, &mut self.client_port, &r.client);
        push_endpoint(&mut self.server_addr, &mut self.server_port, &r.server);
        self.roles_guessed.append_value(r.roles_guessed);
        self.first_ts.append_value(r.first_ts.micros());
        self.last_ts.append_value(r.last_ts.micros());
        self.duration
            .append_value(seconds(r.last_ts.micros() - r.first_ts.micros()));
        self.client_packets.append_value(r.packets.client);
        self.server_packets.append_value(r.packets.server);
        self.client_bytes.append_value(r.bytes.client);
        self.server_bytes.append_value(r.bytes.server);
        self.class.append_value(r.class.name());
        for flag in r.flags.iter() {
            self.flags.values().append_value(flag.name());
        }
        self.flags.append(true);
        self.client_end_state
            .append_value(r.end_state.client.name());
        self.server_end_state
            .append_value(r.end_state.server.name());
        self.closed_by.append_value(closed_by(r.closed_by));
        self.reset_by
            .append_option(r.reset.as_ref().map(|x| x.by.name()));
        self.reset_after_fin
            .append_option(r.reset.as_ref().map(|x| x.after_fin));
        let t = &r.timings;
        self.handshake_rtt
            .append_option(t.handshake_rtt.map(as_written));
        self.close_duration
            .append_option(t.close_duration.map(as_written));
        self.close_wait.append_option(t.close_wait.map(as_written));
        self.close_wait_ongoing.append_value(t.close_wait_ongoing);
        self.idle_before_close
            .append_option(t.idle_before_close.map(as_written));
        let u = r.reuse.as_ref();
        self.reuse_previous.append_option(u.map(|u| u.previous));
        self.reuse_gap.append_option(u.map(|u| u.gap));
        self.reuse_time_wait_side
            .append_option(u.map(|u| u.time_wait_side.name()));
        self.reuse_isn_advanced
            .append_option(u.map(|u| u.isn_advanced));
        self.reuse_ts_advanced
            .append_option(u.and_then(|u| u.ts_advanced));
        let z = &r.zeek.row;
        self.zeek_conn_state.append_value(z.conn_state);
        self.zeek_history.append_value(&z.history);
        self.zeek_duration.append_option(z.duration);
        self.zeek_orig_state.append_value(z.orig_state);
        self.zeek_resp_state.append_value(z.resp_state);
        self.input.append_option(input);
        self.rows += 1;
    }

    /// The rows gathered so far as a batch, the builders emptied.
    fn batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        if let Some(b) = &mut self.set {
            columns.push(Arc::new(b.finish()));
        }
        columns.extend([
            Arc::new(self.id.finish()) as ArrayRef,
            Arc::new(self.uid.finish()),
            Arc::new(self.client_addr.finish()),
            Arc::new(self.client_port.finish()),
            Arc::new(self.server_addr.finish()),
            Arc::new(self.server_port.finish()),
            Arc::new(self.roles_guessed.finish()),
            Arc::new(self.first_ts.finish()),
            Arc::new(self.last_ts.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.client_packets.finish()),
            Arc::new(self.server_packets.finish()),
            Arc::new(self.client_bytes.finish()),
            Arc::new(self.server_bytes.finish()),
            Arc::new(self.class.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.client_end_state.finish()),
            Arc::new(self.server_end_state.finish()),
            Arc::new(self.closed_by.finish()),
            Arc::new(self.reset_by.finish()),
            Arc::new(self.reset_after_fin.finish()),
            Arc::new(self.handshake_rtt.finish()),
            Arc::new(self.close_duration.finish()),
            Arc::new(self.close_wait.finish()),
            Arc::new(self.close_wait_ongoing.finish()),
            Arc::new(self.idle_before_close.finish()),
            Arc::new(self.reuse_previous.finish()),
            Arc::new(self.reuse_gap.finish()),
            Arc::new(self.reuse_time_wait_side.finish()),
            Arc::new(self.reuse_isn_advanced.finish()),
            Arc::new(self.reuse_ts_advanced.finish()),
            Arc::new(self.zeek_conn_state.finish()),
            Arc::new(self.zeek_history.finish()),
            Arc::new(self.zeek_duration.finish()),
            Arc::new(self.zeek_orig_state.finish()),
            Arc::new(self.zeek_resp_state.finish()),
            Arc::new(self.input.finish()),
        ]);
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), columns)
    }
}

fn push_endpoint(addr: &mut StringBuilder, port: &mut UInt16Builder, e: &EndpointAddr) {
    match e.ip {
        std::net::IpAddr::V4(v4) => addr.append_value(crate::decode::ipv4_text(v4)),
        std::net::IpAddr::V6(v6) => addr.append_value(v6.to_string()),
    }
    port.append_value(e.port);
}

/// Microseconds as seconds.
fn seconds(us: i64) -> f64 {
    us as f64 / 1e6
}

/// A timing as the JSON report writes it: the shortest decimal of the `f32`
/// kept, read as a `float64` (`0.001`, not `0.0010000000474974513`).
fn as_written(v: f32) -> f64 {
    if !v.is_finite() {
        return f64::from(v);
    }
    zmij::Buffer::new()
        .format_finite(v)
        .parse()
        .unwrap_or(f64::from(v))
}

fn closed_by(c: crate::classify::ClosedBy) -> &'static str {
    use crate::classify::ClosedBy;
    match c {
        ClosedBy::Client => "client",
        ClosedBy::Server => "server",
        ClosedBy::Both => "both",
        ClosedBy::None => "none",
    }
}

/// The input of the connection's first evidence packet (its SYN, SYN-ACK,
/// handshake ACK, first FIN or first RST), as a position among the inputs;
/// with one input, that one.
fn input_of(r: &ConnectionReport, inputs: usize) -> Option<usize> {
    if inputs == 1 {
        return Some(0);
    }
    let e = &r.evidence;
    let refs: [Option<&PacketRef>; 5] = [
        e.syn.as_ref(),
        e.syn_ack.as_ref(),
        e.handshake_ack.as_ref(),
        e.fins.first().map(|f| &f.first),
        e.rsts.first().map(|x| &x.at),
    ];
    refs.into_iter()
        .flatten()
        .min_by_key(|p| (p.ts, p.packet()))
        .map(|p| usize::from(p.input()))
}

fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

/// The rows not yet handed on, and what each needs besides its record.
struct Rows {
    schema: SchemaRef,
    columns: Columns,
    /// The `set` column's value (`None`: no such column).
    set: Option<String>,
    inputs: Vec<String>,
}

impl Rows {
    fn new(set: Option<String>) -> Rows {
        Rows {
            schema: schema(set.is_some()),
            columns: Columns::new(set.is_some()),
            set,
            inputs: Vec::new(),
        }
    }

    /// Appends `record`'s row; a full batch once there are [`BATCH_ROWS`].
    fn push(&mut self, record: &ConnectionReport) -> io::Result<Option<RecordBatch>> {
        let input = input_of(record, self.inputs.len()).and_then(|i| self.inputs.get(i));
        self.columns.push(
            record,
            self.set.as_deref().unwrap_or(""),
            input.map(String::as_str),
        );
        if self.columns.rows >= BATCH_ROWS {
            return self.take();
        }
        Ok(None)
    }

    /// The rows gathered so far as a batch (`None`: none).
    fn take(&mut self) -> io::Result<Option<RecordBatch>> {
        if self.columns.rows == 0 {
            return Ok(None);
        }
        self.columns.batch(&self.schema).map(Some).map_err(to_io)
    }
}

/// `--format parquet`: a [`Sink`] writing each connection's row while the
/// capture is read (see the module's documentation).
pub struct Parquet<'o> {
    /// Where the file goes, until [`Sink::begin`] starts the writer on it.
    out: Option<&'o mut (dyn Write + Send)>,
    writer: Option<ArrowWriter<&'o mut (dyn Write + Send)>>,
    rows: Rows,
}

impl<'o> Parquet<'o> {
    /// The report of one analysis.
    pub fn new(out: &'o mut (dyn Write + Send)) -> Parquet<'o> {
        Parquet::with_set(out, None)
    }

    /// With `set`, each row's first column `set` holds that name (the rows
    /// of several analyses are then one table).
    pub fn with_set(out: &'o mut (dyn Write + Send), set: Option<String>) -> Parquet<'o> {
        Parquet {
            out: Some(out),
            writer: None,
            rows: Rows::new(set),
        }
    }

    /// The writer's properties: zstd, row groups of [`ROW_GROUP_ROWS`], the
    /// schema version in the metadata.
    pub fn properties() -> WriterProperties {
        let tool = Tool::default();
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(SCHEMA_VERSION_KEY.into(), SCHEMA_VERSION.to_string()),
                KeyValue::new("tool".into(), format!("{} {}", tool.name, tool.version)),
            ]))
            .set_created_by(format!("{} {}", tool.name, tool.version))
            .build()
    }

    /// Hands a batch to the writer.
    fn write(&mut self, batch: Option<RecordBatch>) -> io::Result<()> {
        let Some(batch) = batch else {
            return Ok(());
        };
        match &mut self.writer {
            Some(w) => w.write(&batch).map_err(to_io),
            None => Err(io::Error::other("the Parquet writer was not started")),
        }
    }
}

impl Sink for Parquet<'_> {
    type Encoder = Records;

    fn inputs(&mut self, paths: &[&str]) {
        self.rows.inputs = paths.iter().map(|p| p.to_string()).collect();
    }

    fn begin(&mut self, _first_packet: Option<Timestamp>) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let writer =
            ArrowWriter::try_new(out, self.rows.schema.clone(), Some(Parquet::properties()))
                .map_err(to_io)?;
        self.writer = Some(writer);
        Ok(())
    }

    fn connection(&mut self, record: Box<ConnectionReport>) -> io::Result<()> {
        let batch = self.rows.push(&record)?;
        self.write(batch)
    }
}

impl Renderer for Parquet<'_> {
    fn finish(&mut self, _analysis: &Analysis) -> io::Result<()> {
        // An analysis that found no packet still writes a file (no rows).
        self.begin(None)?;
        let rest = self.rows.take()?;
        self.write(rest)?;
        match self.writer.take() {
            Some(w) => w.close().map(drop).map_err(to_io),
            None => Ok(()),
        }
    }
}

/// The same rows as Arrow record batches in memory (`table_schema(false)`),
/// for library callers: the Python package hands them to pyarrow without a
/// copy. Run an analysis into it ([`crate::analyze_into`]), then take
/// [`Batches::into_batches`].
pub struct Batches {
    rows: Rows,
    batches: Vec<RecordBatch>,
}

impl Default for Batches {
    fn default() -> Batches {
        Batches {
            rows: Rows::new(None),
            batches: Vec::new(),
        }
    }
}

impl Batches {
    /// The batches' schema.
    pub fn schema(&self) -> SchemaRef {
        self.rows.schema.clone()
    }

    /// Every row so far, in report order, in batches of up to 8,192 rows.
    pub fn into_batches(mut self) -> io::Result<Vec<RecordBatch>> {
        if let Some(rest) = self.rows.take()? {
            self.batches.push(rest);
        }
        Ok(self.batches)
    }
}

impl Sink for Batches {
    type Encoder = Records;

    fn inputs(&mut self, paths: &[&str]) {
        self.rows.inputs = paths.iter().map(|p| p.to_string()).collect();
    }

    fn connection(&mut self, record: Box<ConnectionReport>) -> io::Result<()> {
        if let Some(batch) = self.rows.push(&record)? {
            self.batches.push(batch);
        }
        Ok(())
    }
}

/// Writes the rows of `parts` (Parquet files of this schema with a `set`
/// column, each written by [`Parquet::with_set`]), in order, as one file:
/// `teardown batch`'s combined table. Each part's row groups are copied as
/// they are, column chunk by column chunk (nothing decoded: no Parquet
/// reader in the binary for it), so memory holds one column chunk at most.
/// The file's metadata (`schema_version`, the Arrow schema) is the first
/// part's.
pub fn concatenate(parts: &[std::path::PathBuf], out: &mut (dyn Write + Send)) -> io::Result<()> {
    use parquet::column::writer::ColumnCloseResult;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;

    let mut writer: Option<SerializedFileWriter<&mut (dyn Write + Send)>> = None;
    let mut out = Some(out);
    for part in parts {
        let named =
            |e: &dyn std::fmt::Display| io::Error::other(format!("{}: {e}", part.display()));
        let file = std::fs::File::open(part).map_err(|e| named(&e))?;
        let reader = SerializedFileReader::new(file.try_clone().map_err(|e| named(&e))?)
            .map_err(|e| named(&e))?;
        let meta = reader.metadata();
        if writer.is_none()
            && let Some(out) = out.take()
        {
            let file_meta = meta.file_metadata();
            let tool = Tool::default();
            let props = WriterProperties::builder()
                .set_key_value_metadata(file_meta.key_value_metadata().cloned())
                .set_created_by(format!("{} {}", tool.name, tool.version))
                .build();
            let w = SerializedFileWriter::new(
                out,
                file_meta.schema_descr().root_schema_ptr(),
                Arc::new(props),
            )
            .map_err(to_io)?;
            writer = Some(w);
        }
        let Some(w) = writer.as_mut() else {
            break;
        };
        for group in meta.row_groups() {
            let mut rows = w.next_row_group().map_err(to_io)?;
            for column in group.columns() {
                let close = ColumnCloseResult {
                    bytes_written: u64::try_from(column.compressed_size()).unwrap_or(0),
                    rows_written: u64::try_from(group.num_rows()).unwrap_or(0),
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                };
                rows.append_column(&file, close).map_err(|e| named(&e))?;
            }
            rows.close().map_err(to_io)?;
        }
    }
    match (writer, out) {
        (Some(w), _) => w.close().map(drop).map_err(to_io),
        // No part: an empty table of the combined schema.
        (None, Some(out)) => {
            let w = ArrowWriter::try_new(out, schema(true), Some(Parquet::properties()))
                .map_err(to_io)?;
            w.close().map(drop).map_err(to_io)
        }
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type as docs/parquet.md writes it.
    fn type_name(t: &DataType) -> String {
        match t {
            DataType::Utf8 => "string".into(),
            DataType::UInt64 => "uint64".into(),
            DataType::UInt16 => "uint16".into(),
            DataType::Boolean => "bool".into(),
            DataType::Float64 => "float64".into(),
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("timestamp[us, {tz}]"),
            DataType::List(item) => format!("list<{}>", type_name(item.data_type())),
            other => panic!("no name for {other:?}"),
        }
    }

    /// docs/parquet.md lists every column, in order, with its type and
    /// nullability, and no other.
    #[test]
    fn docs_parquet_md_lists_the_columns() {
        let doc = include_str!("../../docs/parquet.md");
        let documented: Vec<(String, String, bool)> = doc
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let ty = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((name.to_string(), ty.to_string(), cells.get(3)? == &"null"))
            })
            .collect();
        let schema = schema(true);
        let actual: Vec<(String, String, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), type_name(f.data_type()), f.is_nullable()))
            .collect();
        assert_eq!(documented, actual);
        assert_eq!(schema.fields()[0].name(), "set");
        assert_eq!(super::schema(false).fields().len(), actual.len() - 1);
    }

    /// `Batches` holds the rows of every connection `analyze` reports, in
    /// its order, whatever the thread count.
    #[test]
    fn batches_are_the_reports_connections() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        let report = crate::pipeline::analyze(&crate::pipeline::Options::demo(1)).report;
        for threads in [1, 3] {
            let mut sink = Batches::default();
            crate::pipeline::analyze_into(&crate::pipeline::Options::demo(threads), &mut sink);
            let schema = sink.schema();
            let batches = sink.into_batches().unwrap();
            let ids: Vec<u64> = batches
                .iter()
                .flat_map(|b| {
                    assert_eq!(b.schema(), schema);
                    b.column(0).as_primitive::<UInt64Type>().values().to_vec()
                })
                .collect();
            let expected: Vec<u64> = report.connections.iter().map(|c| c.id).collect();
            assert_eq!(ids, expected);
            assert!(!ids.is_empty());
        }
    }

    #[test]
    fn timings_are_the_decimals_json_writes() {
        assert_eq!(as_written(0.001), 0.001);
        assert_eq!(as_written(91.72998), 91.72998);
        assert_eq!(as_written(5.2e-5), 5.2e-5);
        assert!(as_written(f32::NAN).is_nan());
    }

    #[test]
    fn the_metadata_carries_the_schema_version() {
        let props = Parquet::properties();
        let kv = props.key_value_metadata().unwrap();
        let v = kv.iter().find(|k| k.key == SCHEMA_VERSION_KEY).unwrap();
        assert_eq!(
            v.value.as_deref(),
            Some(SCHEMA_VERSION.to_string().as_str())
        );
        assert_eq!(props.max_row_group_row_count(), Some(ROW_GROUP_ROWS));
    }
}
