//! Byte sources for capture readers: a file, a pipe or a decompressor, in
//! chunks, read on the caller's thread or one chunk ahead of it on a thread of
//! its own ([`Source::read_ahead`]).
//!
//! Readers ask for "at least `n` bytes from the current position" and then consume
//! what they parsed. `n` is always bounded by the caller (a record or block limit),
//! and the buffers hold what the input delivered, so a length field in a hostile
//! file can never size an allocation.
//!
//! Files are read with `read(2)`, not memory-mapped: a map's touched pages
//! count toward the process's resident memory (the whole file, by the end), and
//! a file truncated while mapped kills the process with SIGBUS instead of
//! ending the input with a message.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Compression wrapped around a capture, detected from magic bytes (never from the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises gzip (`1f 8b`) and zstd (`28 b5 2f fd`) frames, and zstd's
    /// skippable frames (magic `0x184D2A50` to `0x184D2A5F`, RFC 8878 §3.1.2),
    /// which may come before the first zstd frame and which its decoder skips.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
        {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// The largest zstd window decoded, as a power of two: zstd's own largest
/// (`zstd --long=31`). The library stops at 2^27 by default, so files
/// compressed with `--long=28` or more were refused. The window is allocated
/// as the frame declares it, but as virtual memory: pages are touched only as
/// output fills them.
const ZSTD_WINDOW_LOG_MAX: u32 = 31;

/// A zstd decoder whose "window too large" and allocation errors say how to
/// read the file anyway.
struct ZstdReader<R>(R);

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let message = e.to_string();
            // zstd's names for frameParameter_windowTooLarge and memory_allocation.
            if message.contains("requires too much memory") || message.contains("Allocation error")
            {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{message} (the zstd window the file was compressed with is more than \
                         this process can allocate or zstd decodes; decompress it first, e.g. \
                         `zstd -d --long=31 -o capture.pcap FILE`, and analyze capture.pcap)"
                    ),
                )
            } else {
                e
            }
        })
    }
}

/// The largest chunk read at once.
const CHUNK: usize = 2 << 20;
/// The first chunk's size; after each full chunk the next is twice as large, up
/// to [`CHUNK`], so a short input never costs a large buffer.
const FIRST_CHUNK: usize = 64 * 1024;
/// Room kept in front of every chunk: the unconsumed tail of the previous one (a
/// record cut by the chunk boundary) is copied there, so the record is whole
/// without copying the chunk. A longer tail is gathered into a buffer of its own.
const HEAD: usize = 64 * 1024;
/// A read shorter than this ends a chunk early (see [`Reading::next`]): a pipe
/// delivers at most 64 KiB a read.
const SHORT_READ: usize = 64 * 1024;
/// Chunks a read-ahead thread may have ready before it waits for the reader.
const AHEAD: usize = 1;
/// Smaller plain files are read on the caller's thread: a thread and its
/// buffers would cost more than they save.
const AHEAD_FROM: u64 = 4 * CHUNK as u64;
/// A read-ahead thread's buffers: those ready, the one it fills, the one
/// being parsed.
const POOL: usize = AHEAD + 2;

/// A forward-only byte source with an absolute offset for error messages.
///
/// The input arrives in chunks, read on the caller's thread or, after
/// [`Source::read_ahead`], by a thread of its own that reads (and decompresses)
/// the next chunks while the caller parses this one.
pub struct Source {
    feed: Feed,
    /// `buf[start..end]` is unconsumed data.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// `buf` is a buffer of the source's own (a long request gathered across
    /// chunks), not a chunk to hand back.
    gathered: bool,
    /// Bytes consumed so far: the absolute offset of `buf[start]`.
    consumed: u64,
    /// The input's size when known (a regular file, or standard input
    /// redirected from one): its compressed size for a compressed input, whose
    /// decompressed size is not known before the end.
    size: Option<u64>,
    /// For a compressed input: how many of its compressed bytes the
    /// decompressor has read.
    packed_read: Option<Arc<AtomicU64>>,
}

/// Counts the bytes read through it, for a reader on another thread to see.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Bytes read from the input: `data[HEAD..len]`.
struct Chunk {
    data: Vec<u8>,
    len: usize,
}

/// Turns a reader into chunks, then at most one error, then nothing.
struct Reading {
    reader: Box<dyn Read + Send>,
    /// The next chunk's size (not counting [`HEAD`]).
    size: usize,
    /// A used chunk buffer to read into next.
    spare: Option<Vec<u8>>,
    /// An error met after some bytes of a chunk, told after that chunk.
    failed: Option<io::Error>,
    done: bool,
}

impl Reading {
    fn new(reader: Box<dyn Read + Send>) -> Reading {
        Reading {
            reader,
            size: FIRST_CHUNK,
            spare: None,
            failed: None,
            done: false,
        }
    }

    /// Reads the next chunk: until it is full or a read returns less than
    /// [`SHORT_READ`] (a pipe whose writer is slower than us: what it delivered
    /// is parsed at once instead of waiting for more). A file or a
    /// decompressor fills a chunk in one read, a busy pipe in a few.
    fn next(&mut self) -> Option<io::Result<Chunk>> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Some(Err(e));
        }
        let size = HEAD + self.size;
        let mut data = match self.spare.take() {
            Some(d) if d.len() == size => d,
            _ => vec![0; size],
        };
        let mut len = HEAD;
        while !self.done && len < size {
            match self.reader.read(&mut data[len..]) {
                Ok(0) => self.done = true,
                Ok(k) => {
                    len += k;
                    if k < SHORT_READ {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if len > HEAD => {
                    // Hand over what was read; the error comes next.
                    self.failed = Some(e);
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if len == HEAD {
            return None;
        }
        if len == size {
            self.size = (self.size * 2).min(CHUNK);
        }
        Some(Ok(Chunk { data, len }))
    }
}

enum Feed {
    /// Chunks read on the caller's thread.
    Inline(Reading),
    /// Chunks read by a thread of its own ([`Source::read_ahead`]); used
    /// buffers go back to it through `spare`.
    Ahead {
        chunks: Receiver<io::Result<Chunk>>,
        spare: SyncSender<Vec<u8>>,
    },
}

impl Feed {
    fn next(&mut self) -> Option<io::Result<Chunk>> {
        match self {
            Feed::Inline(reading) => reading.next(),
            // The thread hung up after its last chunk (or error).
            Feed::Ahead { chunks, .. } => chunks.recv().ok(),
        }
    }

    /// Hands a buffer the reader is done with back for the next read.
    fn recycle(&mut self, data: Vec<u8>) {
        match self {
            Feed::Inline(reading) => reading.spare = Some(data),
            Feed::Ahead { spare, .. } => {
                let _ = spare.try_send(data);
            }
        }
    }
}

/// The read-ahead thread: sends chunks until the input ends or the reader is
/// dropped. It reads into at most [`POOL`] buffers of its own, which the reader
/// hands back once parsed, so the same few MiB are reused for the whole input.
fn pump(mut reading: Reading, chunks: SyncSender<io::Result<Chunk>>, spare: Receiver<Vec<u8>>) {
    let size = HEAD + CHUNK;
    reading.size = CHUNK;
    let mut allocated = 0;
    loop {
        let buf = loop {
            let used = match spare.try_recv() {
                Ok(buf) => buf,
                Err(_) if allocated < POOL => {
                    allocated += 1;
                    break vec![0; size];
                }
                Err(_) => match spare.recv() {
                    Ok(buf) => buf,
                    Err(_) => return,
                },
            };
            // A buffer of another size (read into before the thread started):
            // drop it.
            if used.len() == size {
                break used;
            }
        };
        reading.spare = Some(buf);
        let Some(item) = reading.next() else { return };
        if chunks.send(item).is_err() {
            return;
        }
    }
}

impl Source {
    /// Opens a path (`-` is standard input), unwrapping gzip/zstd by magic bytes.
    pub fn open(path: &Path) -> io::Result<(Source, Compression)> {
        if path.as_os_str() == "-" {
            // Standard input redirected from a file (`< capture.pcap`) is read
            // like a file: its size is known, and it is worth reading ahead.
            if let Some((file, left)) = stdin_file() {
                return Self::from_reader(Box::new(file), Some(left));
            }
            return Self::from_reader(Box::new(io::stdin()), None);
        }
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let total_len = meta.is_file().then_some(meta.len());
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head)?;
        if Compression::sniff(&head[..n]) == Compression::None && meta.is_file() {
            // A plain file: read it straight into our buffer, from the start again.
            let file = File::open(path)?;
            return Ok((Source::stream(Box::new(file), total_len), Compression::None));
        }
        // A pipe or FIFO (its first bytes are gone, so put them back), or a
        // compressed file.
        let reader: Box<dyn Read + Send> =
            Box::new(io::Cursor::new(head[..n].to_vec()).chain(file));
        Self::from_reader(reader, total_len)
    }

    fn stream(reader: Box<dyn Read + Send>, size: Option<u64>) -> Source {
        Source {
            feed: Feed::Inline(Reading::new(reader)),
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            gathered: false,
            consumed: 0,
            size,
            packed_read: None,
        }
    }

    /// Wraps any reader (stdin, a FIFO, a test buffer), unwrapping compression.
    pub fn from_reader(
        reader: Box<dyn Read + Send>,
        total_len: Option<u64>,
    ) -> io::Result<(Source, Compression)> {
        let mut reader = reader;
        // Read the magic bytes in full (a pipe may deliver them one at a time), then
        // put them back in front of the stream.
        let mut head = [0u8; 4];
        let n = read_up_to(&mut reader, &mut head)?;
        let compression = Compression::sniff(&head[..n]);
        let rest = io::Cursor::new(head[..n].to_vec()).chain(reader);
        if compression == Compression::None {
            // Plain data: our own buffer is enough.
            return Ok((Source::stream(Box::new(rest), total_len), compression));
        }
        let read = Arc::new(AtomicU64::new(0));
        let packed = BufReader::with_capacity(
            CHUNK,
            Counted {
                inner: rest,
                read: Arc::clone(&read),
            },
        );
        let reader: Box<dyn Read + Send> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(packed)),
            _ => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(packed)?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Box::new(ZstdReader(decoder))
            }
        };
        let mut source = Source::stream(reader, total_len);
        source.packed_read = Some(read);
        Ok((source, compression))
    }

    /// From now on, reads (and decompresses) the input on a thread of its own,
    /// one 2 MiB chunk ahead of the caller: reading overlaps parsing,
    /// in a few MiB. What is already buffered stays. Reading stays on the
    /// caller's thread where that does not help (a small file, a plain pipe), or
    /// if no thread can be started.
    pub fn read_ahead(&mut self) {
        if self.ahead_helps() {
            self.start_reading_ahead();
        }
    }

    /// Whether reading ahead pays: for a file of at least [`AHEAD_FROM`] bytes
    /// or a decompressor (of at least an eighth of that, or of unknown size),
    /// not for a plain pipe, whose writer already reads ahead (a thread copying
    /// out of the pipe only adds hand-overs: measured slower).
    fn ahead_helps(&self) -> bool {
        if self.packed_read.is_some() {
            self.size.is_none_or(|len| len >= AHEAD_FROM / 8)
        } else {
            self.size.is_some_and(|len| len >= AHEAD_FROM)
        }
    }

    /// [`Source::read_ahead`] whether it helps or not.
    fn start_reading_ahead(&mut self) {
        let Feed::Inline(_) = self.feed else {
            return;
        };
        let (chunks_tx, chunks) = sync_channel(AHEAD);
        // Room for every buffer there is, so handing one back never waits.
        let (spare, spare_rx) = sync_channel(POOL + 2);
        // The reader is handed over only once the thread runs, so that a failed
        // spawn leaves it here.
        let (hand_over, take_over) = sync_channel::<Reading>(1);
        let spawned = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                if let Ok(reading) = take_over.recv() {
                    pump(reading, chunks_tx, spare_rx);
                }
            });
        if spawned.is_err() {
            return;
        }
        let Feed::Inline(reading) =
            std::mem::replace(&mut self.feed, Feed::Ahead { chunks, spare })
        else {
            unreachable!("checked above");
        };
        // The thread is waiting on this channel, which has room for one.
        let _ = hand_over.send(reading);
    }

    /// How far reading has come, for a progress bar: bytes of the input read
    /// so far (the compressed ones for a compressed input) and how many there
    /// are, when known.
    pub fn progress(&self) -> (u64, Option<u64>) {
        let read = self
            .packed_read
            .as_ref()
            .map_or(self.consumed, |read| read.load(Ordering::Relaxed));
        (read, self.size)
    }

    /// Absolute offset of the next unconsumed byte (in the decompressed stream).
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    /// Returns at least `n` unconsumed bytes, or fewer only at end of input.
    /// Memory follows what the input delivers, not `n`: a length field may claim
    /// 16 MiB in a 100-byte file, and the buffer never holds more than what was
    /// read plus one chunk.
    #[inline]
    pub fn fill(&mut self, n: usize) -> io::Result<&[u8]> {
        // Nearly every call (a record's header, then the record) finds its bytes
        // in the chunk at hand: that test inline, the reading out of line.
        if self.end - self.start >= n || self.eof {
            return Ok(self.buffered());
        }
        self.fill_from_feed(n)
    }

    /// The unconsumed bytes at hand, without reading: what the last [`Source::fill`]
    /// returned.
    #[inline]
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    #[inline(never)]
    fn fill_from_feed(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            match self.feed.next() {
                None => self.eof = true,
                Some(Ok(chunk)) => self.append(chunk),
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(self.buffered())
    }

    /// Makes `chunk` follow the unconsumed bytes.
    fn append(&mut self, mut chunk: Chunk) {
        let left = self.end - self.start;
        if left <= HEAD {
            // The usual case: move the tail into the chunk's head room and read
            // on from the chunk.
            let at = HEAD - left;
            chunk.data[at..HEAD].copy_from_slice(&self.buf[self.start..self.end]);
            let used = std::mem::replace(&mut self.buf, chunk.data);
            if !std::mem::take(&mut self.gathered) {
                self.feed.recycle(used);
            }
            self.start = at;
            self.end = chunk.len;
        } else {
            // A long request across chunks: gather it in a buffer of its own.
            let mut gathered = if self.gathered {
                let mut own = std::mem::take(&mut self.buf);
                own.copy_within(self.start..self.end, 0);
                own.truncate(left);
                own
            } else {
                let own = self.buf[self.start..self.end].to_vec();
                let used = std::mem::take(&mut self.buf);
                self.feed.recycle(used);
                own
            };
            gathered.extend_from_slice(&chunk.data[HEAD..chunk.len]);
            self.feed.recycle(chunk.data);
            self.buf = gathered;
            self.gathered = true;
            self.start = 0;
            self.end = self.buf.len();
        }
    }

    /// Marks `n` bytes as read. `n` must not exceed what `fill` returned.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        self.consumed += n as u64;
    }
}

/// Standard input as a file, with the bytes left in it from its current
/// position, when it is a regular file.
#[cfg(unix)]
fn stdin_file() -> Option<(File, u64)> {
    use std::io::Seek;
    use std::os::fd::AsFd;
    let mut file = File::from(io::stdin().as_fd().try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let at = file.stream_position().ok()?;
    Some((file, meta.len().saturating_sub(at)))
}

#[cfg(not(unix))]
fn stdin_file() -> Option<(File, u64)> {
    None
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that returns one byte per call, like a slow pipe.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = buf.len().min(1);
            self.0.read(&mut buf[..len])
        }
    }

    #[test]
    fn stream_fill_gathers_short_reads() {
        let data: Vec<u8> = (0..100u8).collect();
        let (mut src, comp) =
            Source::from_reader(Box::new(Trickle(Cursor::new(data.clone()))), None).unwrap();
        assert_eq!(comp, Compression::None);
        assert_eq!(&src.fill(10).unwrap()[..10], &data[..10]);
        src.consume(10);
        assert_eq!(src.offset(), 10);
        let rest = src.fill(1000).unwrap().to_vec();
        assert_eq!(rest, &data[10..]);
    }

    #[test]
    fn a_claimed_length_does_not_size_the_buffer() {
        // A record header claiming 16 MiB in a 100-byte input: the buffer grows
        // with what is read, not with the claim.
        let data = vec![7u8; 100];
        let (mut src, _) = Source::from_reader(Box::new(Cursor::new(data)), None).unwrap();
        assert_eq!(src.fill(16 << 20).unwrap().len(), 100);
        assert!(
            src.buf.len() <= HEAD + FIRST_CHUNK,
            "buffer {} bytes",
            src.buf.len()
        );
    }

    #[test]
    fn a_long_request_is_served_across_growth_and_compaction() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (mut src, _) = Source::from_reader(Box::new(Cursor::new(data.clone())), None).unwrap();
        assert_eq!(&src.fill(10).unwrap()[..10], &data[..10]);
        src.consume(7);
        assert_eq!(
            &src.fill(2_500_000).unwrap()[..2_500_000],
            &data[7..2_500_007]
        );
        assert!(src.buf.len() <= 2_500_000 + CHUNK);
        src.consume(2_500_000);
        assert_eq!(src.offset(), 2_500_007);
        assert_eq!(src.fill(1 << 20).unwrap(), &data[2_500_007..]);
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello pcap").unwrap();
        let gz = enc.finish().unwrap();
        let (mut src, comp) = Source::from_reader(Box::new(Cursor::new(gz)), None).unwrap();
        assert_eq!(comp, Compression::Gzip);
        assert_eq!(src.fill(100).unwrap(), b"hello pcap");
    }

    #[test]
    fn a_leading_skippable_zstd_frame_is_still_zstd() {
        // Skippable frames (magic 0x184D2A50 to 0x184D2A5F, a length, that
        // many bytes) may come first: seekable-zstd writers and pzstd put
        // metadata there, and zstd -d skips them.
        let z = zstd::encode_all(Cursor::new(b"zstd pcap".to_vec()), 1).unwrap();
        for nibble in [0x0, 0x7, 0xf] {
            let mut file = (0x184D_2A50u32 | nibble).to_le_bytes().to_vec();
            file.extend_from_slice(&5u32.to_le_bytes());
            file.extend_from_slice(b"skip!");
            file.extend_from_slice(&z);
            let (mut src, comp) = Source::from_reader(Box::new(Cursor::new(file)), None).unwrap();
            assert_eq!(comp, Compression::Zstd, "{nibble:#x}");
            assert_eq!(src.fill(100).unwrap(), b"zstd pcap", "{nibble:#x}");
        }
        // The same bytes after the magic of no skippable frame are no zstd.
        assert_eq!(
            Compression::sniff(&[0x60, 0x2a, 0x4d, 0x18]),
            Compression::None
        );
        assert_eq!(Compression::sniff(&[0x50, 0x2a, 0x4d]), Compression::None);
    }

    /// A zstd frame declaring a window of 2^`log` bytes, its content in one raw
    /// block (as `gen_zstd_edge.py` writes them).
    fn zstd_frame_with_window(log: u8, content: &[u8]) -> Vec<u8> {
        let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
        // Frame header: no content size, a window descriptor (exponent only).
        f.extend_from_slice(&[0x00, (log - 10) << 3]);
        // Last block, raw, its size.
        let header = ((content.len() as u32) << 3) | 1;
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.extend_from_slice(content);
        f
    }

    #[test]
    fn zstd_windows_up_to_zstds_largest_are_decoded() {
        // `zstd --long=30` writes such a frame; the library's default limit
        // is 2^27 (`--long=27`).
        let z = zstd_frame_with_window(30, b"long window");
        let (mut src, _) = Source::from_reader(Box::new(Cursor::new(z)), None).unwrap();
        assert_eq!(src.fill(100).unwrap(), b"long window");
    }

    #[test]
    fn a_zstd_window_that_cannot_be_had_says_how_to_decompress_the_file() {
        // 2^32 is past what zstd decodes at all; a window that cannot be
        // allocated (under ulimit -v) gets the same advice.
        let z = zstd_frame_with_window(32, b"too long");
        let (mut src, _) = Source::from_reader(Box::new(Cursor::new(z)), None).unwrap();
        let e = src.fill(100).unwrap_err().to_string();
        assert!(e.contains("Frame requires too much memory"), "{e}");
        assert!(e.contains("zstd -d --long=31"), "{e}");
    }

    #[test]
    fn zstd_is_detected_by_magic() {
        let z = zstd::encode_all(Cursor::new(b"zstd pcap".to_vec()), 1).unwrap();
        let (mut src, comp) = Source::from_reader(Box::new(Cursor::new(z)), None).unwrap();
        assert_eq!(comp, Compression::Zstd);
        assert_eq!(src.fill(100).unwrap(), b"zstd pcap");
    }

    /// A source over `data`, read on the caller's thread or ahead of it.
    fn source(data: Vec<u8>, ahead: bool, reads: usize) -> Source {
        let mut src = Source::stream(Box::new(Pieces(Cursor::new(data), reads)), None);
        if ahead {
            src.start_reading_ahead();
            assert!(matches!(src.feed, Feed::Ahead { .. }));
        }
        src
    }

    /// A reader that returns at most `.1` bytes a call.
    struct Pieces(Cursor<Vec<u8>>, usize);
    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = buf.len().min(self.1);
            self.0.read(&mut buf[..len])
        }
    }

    /// `data` followed by an I/O error.
    struct FailsAfter(Cursor<Vec<u8>>);
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the requests (records cut by chunk boundaries, requests
        /// longer than a chunk's head room, many in a row), both ways of reading
        /// return exactly the input's bytes at the right offsets.
        #[test]
        fn read_ahead_and_inline_reading_return_the_same_bytes(
            steps in proptest::collection::vec((1usize..300_000, 0usize..300_000), 1..120),
            reads in proptest::prop_oneof![proptest::strategy::Just(usize::MAX), 4096usize..200_000],
            ahead: bool,
        ) {
            let data = pattern(5 << 20);
            let mut src = source(data.clone(), ahead, reads);
            let mut at = 0usize;
            for (want, take) in steps {
                let got = src.fill(want).unwrap();
                let expect = &data[at..(at + want).min(data.len())];
                proptest::prop_assert_eq!(&got[..expect.len()], expect);
                proptest::prop_assert!(got.len() >= expect.len());
                let take = take.min(got.len());
                src.consume(take);
                at += take;
                proptest::prop_assert_eq!(src.offset(), at as u64);
            }
            let rest = src.fill(usize::MAX >> 1).unwrap().len();
            proptest::prop_assert_eq!(rest, data.len() - at);
            src.consume(rest);
            proptest::prop_assert_eq!(src.offset(), data.len() as u64);
        }
    }

    #[test]
    fn requests_longer_than_the_head_room_again_and_again_do_not_stall_the_read_ahead() {
        // Each request gathers across chunks; the read-ahead thread's buffers
        // must all come back to it, or it would wait for ever.
        let data = pattern(24 << 20);
        let mut src = source(data.clone(), true, usize::MAX);
        let mut at = 0;
        while at < data.len() {
            let want = (3 * CHUNK / 2).min(data.len() - at);
            let got = src.fill(want).unwrap();
            assert_eq!(&got[..want], &data[at..at + want]);
            src.consume(want - 1000);
            at += want - 1000;
            if data.len() - at <= 1000 {
                break;
            }
        }
    }

    #[test]
    fn an_error_comes_after_the_bytes_read_before_it_in_both_ways_of_reading() {
        for ahead in [false, true] {
            let data = pattern(3 << 20);
            let mut src = Source::stream(Box::new(FailsAfter(Cursor::new(data.clone()))), None);
            if ahead {
                src.start_reading_ahead();
                assert!(matches!(src.feed, Feed::Ahead { .. }));
            }
            let got = src.fill(data.len()).unwrap();
            assert_eq!(got, &data[..], "ahead: {ahead}");
            src.consume(data.len());
            let err = src.fill(1).unwrap_err();
            assert_eq!(err.to_string(), "disk on fire", "ahead: {ahead}");
            assert_eq!(src.offset(), data.len() as u64);
            // After the error the input is over.
            assert!(src.fill(1).unwrap().is_empty(), "ahead: {ahead}");
        }
    }

    #[test]
    fn only_files_large_enough_are_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        for (len, ahead) in [(1000, false), (AHEAD_FROM as usize, true)] {
            let path = dir.path().join(format!("{len}.bin"));
            std::fs::write(&path, pattern(len)).unwrap();
            let (mut src, _) = Source::open(&path).unwrap();
            src.read_ahead();
            assert_eq!(matches!(src.feed, Feed::Ahead { .. }), ahead, "{len} bytes");
            assert_eq!(src.fill(len).unwrap(), &pattern(len)[..]);
        }
    }

    #[test]
    fn a_plain_pipe_is_read_on_the_callers_thread_a_compressed_one_ahead() {
        let (mut plain, _) =
            Source::from_reader(Box::new(Cursor::new(b"pcap bytes".to_vec())), None).unwrap();
        plain.read_ahead();
        assert!(matches!(plain.feed, Feed::Inline(_)));
        let z = zstd::encode_all(Cursor::new(b"zstd pcap".to_vec()), 1).unwrap();
        let (mut packed, _) = Source::from_reader(Box::new(Cursor::new(z)), None).unwrap();
        packed.read_ahead();
        assert!(matches!(packed.feed, Feed::Ahead { .. }));
        assert_eq!(packed.fill(100).unwrap(), b"zstd pcap");
    }

    #[test]
    fn progress_counts_the_files_bytes_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(3 << 20);
        let plain = dir.path().join("plain.pcap");
        std::fs::write(&plain, &data).unwrap();
        let z = zstd::encode_all(Cursor::new(data.clone()), 1).unwrap();
        let packed = dir.path().join("packed.pcap.zst");
        std::fs::write(&packed, &z).unwrap();
        for (path, size) in [(&plain, data.len()), (&packed, z.len())] {
            let (mut src, _) = Source::open(path).unwrap();
            assert_eq!(src.progress(), (0, Some(size as u64)), "{}", path.display());
            loop {
                let n = src.fill(1).unwrap().len();
                if n == 0 {
                    break;
                }
                src.consume(n);
                assert!(src.progress().0 <= size as u64);
            }
            assert_eq!(
                src.progress(),
                (size as u64, Some(size as u64)),
                "{}",
                path.display()
            );
            assert_eq!(src.offset(), data.len() as u64);
        }
    }
}
