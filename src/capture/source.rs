//! Byte sources for capture readers: a bounded buffer over a file, a pipe or a
//! decompressor.
//!
//! Readers ask for "at least `n` bytes from the current position" and then consume
//! what they parsed. `n` is always bounded by the caller (a record or block limit),
//! so a length field in a hostile file can never size an allocation.
//!
//! Files are read with `read(2)` into this buffer, not memory-mapped: measured on
//! the benchmark capture, reading is as fast as a map, and a map's touched pages
//! count toward the process's resident memory (the whole file, by the end).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Compression wrapped around a capture, detected from magic bytes (never from the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises gzip (`1f 8b`) and zstd (`28 b5 2f fd`) frames.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// How much a streaming source reads per `read` call, once the input has shown
/// it is that long.
const CHUNK: usize = 1 << 20;
/// The buffer's first size; it grows from here as data arrives (to at most twice
/// what was read), up to the request plus one chunk.
const FIRST_READ: usize = 64 * 1024;

/// A forward-only byte source with an absolute offset for error messages.
pub struct Source {
    reader: Box<dyn Read + Send>,
    /// `buf[start..end]` is unconsumed data.
    buf: Vec<u8>,
    end: usize,
    eof: bool,
    start: usize,
    /// Bytes consumed before `buf[0]` (streaming) – so `offset()` is absolute.
    base: u64,
    /// Total size when known (regular files, uncompressed), for progress reporting.
    pub total_len: Option<u64>,
}

impl Source {
    /// Opens a path (`-` is standard input), unwrapping gzip/zstd by magic bytes.
    pub fn open(path: &Path) -> io::Result<(Source, Compression)> {
        if path.as_os_str() == "-" {
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

    fn stream(reader: Box<dyn Read + Send>, total_len: Option<u64>) -> Source {
        Source {
            reader,
            buf: Vec::new(),
            end: 0,
            eof: false,
            start: 0,
            base: 0,
            total_len,
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
        let reader: Box<dyn Read + Send> = match compression {
            // Plain data: our own buffer is enough.
            Compression::None => Box::new(rest),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
                BufReader::with_capacity(CHUNK, rest),
            )),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
                BufReader::with_capacity(CHUNK, rest),
            )?),
        };
        let total_len = if compression == Compression::None {
            total_len
        } else {
            None
        };
        Ok((Source::stream(reader, total_len), compression))
    }

    /// Absolute offset of the next unconsumed byte (in the decompressed stream).
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Returns at least `n` unconsumed bytes, or fewer only at end of input.
    /// The buffer never grows beyond `n` plus one read chunk, nor beyond twice
    /// what the input has delivered: a length field may claim 16 MiB in a
    /// 100-byte file, and the memory follows what the input holds, not the claim.
    pub fn fill(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            if self.buf.len() - self.start < n + CHUNK / 4 || self.end == self.buf.len() {
                // Shift unconsumed bytes to the front, then make room.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.base += self.start as u64;
                self.start = 0;
                // Room for the request plus a chunk, but at most twice what the
                // input has delivered so far. Always more than `end` (< n), so
                // the read below has room.
                let delivered = usize::try_from(self.base)
                    .unwrap_or(usize::MAX)
                    .saturating_add(self.end);
                let want = (n + CHUNK).min(delivered.saturating_mul(2).max(FIRST_READ));
                if self.buf.len() < want {
                    self.buf.resize(want, 0);
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    /// Marks `n` bytes as read. `n` must not exceed what `fill` returned.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
    }
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
            src.buf.len() <= FIRST_READ,
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
    fn zstd_is_detected_by_magic() {
        let z = zstd::encode_all(Cursor::new(b"zstd pcap".to_vec()), 1).unwrap();
        let (mut src, comp) = Source::from_reader(Box::new(Cursor::new(z)), None).unwrap();
        assert_eq!(comp, Compression::Zstd);
        assert_eq!(src.fill(100).unwrap(), b"zstd pcap");
    }
}
