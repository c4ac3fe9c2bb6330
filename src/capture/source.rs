//! Byte sources for capture readers: a memory map for regular files, a bounded
//! streaming buffer for pipes and decompressors.
//!
//! Readers ask for "at least `n` bytes from the current position" and then consume
//! what they parsed. `n` is always bounded by the caller (a record or block limit),
//! so a length field in a hostile file can never size an allocation.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use memmap2::Mmap;

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

/// How much a streaming source reads per `read` call.
const CHUNK: usize = 1 << 20;

enum Backing {
    /// The whole file, mapped: `fill` never copies.
    Mapped(Mmap),
    /// A growable window over a reader; `buf[start..end]` is unconsumed data.
    Stream {
        reader: Box<dyn Read + Send>,
        buf: Vec<u8>,
        end: usize,
        eof: bool,
    },
}

/// A forward-only byte source with an absolute offset for error messages.
pub struct Source {
    backing: Backing,
    /// Start of unconsumed data inside the backing buffer or map.
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
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() {
            let mut head = [0u8; 4];
            let n = read_up_to(&mut &file, &mut head)?;
            if Compression::sniff(&head[..n]) == Compression::None && meta.len() > 0 {
                // SAFETY: the map is read-only and private to this process; a capture
                // that another process truncates while we read it is the one case a
                // map cannot defend against, the same trade-off ripgrep makes.
                if let Ok(map) = unsafe { Mmap::map(&file) } {
                    return Ok((
                        Source {
                            backing: Backing::Mapped(map),
                            start: 0,
                            base: 0,
                            total_len: Some(meta.len()),
                        },
                        Compression::None,
                    ));
                }
            }
            let file = File::open(path)?;
            return Self::from_reader(Box::new(file), Some(meta.len()));
        }
        Self::from_reader(Box::new(file), None)
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
        let buffered =
            BufReader::with_capacity(CHUNK, io::Cursor::new(head[..n].to_vec()).chain(reader));
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        };
        let total_len = if compression == Compression::None {
            total_len
        } else {
            None
        };
        Ok((
            Source {
                backing: Backing::Stream {
                    reader,
                    buf: Vec::new(),
                    end: 0,
                    eof: false,
                },
                start: 0,
                base: 0,
                total_len,
            },
            compression,
        ))
    }

    /// Absolute offset of the next unconsumed byte (in the decompressed stream).
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Returns at least `n` unconsumed bytes, or fewer only at end of input.
    /// The buffer never grows beyond `n` plus one read chunk.
    pub fn fill(&mut self, n: usize) -> io::Result<&[u8]> {
        match &mut self.backing {
            Backing::Mapped(map) => Ok(&map[self.start.min(map.len())..]),
            Backing::Stream {
                reader,
                buf,
                end,
                eof,
            } => {
                while *end - self.start < n && !*eof {
                    if buf.len() - self.start < n + CHUNK / 4 || *end == buf.len() {
                        // Shift unconsumed bytes to the front, then make room.
                        buf.copy_within(self.start..*end, 0);
                        *end -= self.start;
                        self.base += self.start as u64;
                        self.start = 0;
                        let want = (n + CHUNK).max(buf.len());
                        if buf.len() < want {
                            buf.resize(want, 0);
                        }
                    }
                    match reader.read(&mut buf[*end..]) {
                        Ok(0) => *eof = true,
                        Ok(k) => *end += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(&buf[self.start..*end])
            }
        }
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
