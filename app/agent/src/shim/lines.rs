//! Splitting a job's output into lines in a fixed buffer: a line longer than
//! the buffer comes out in pieces (cut between characters), so a job that
//! prints without newlines cannot make the shim grow.

use std::io::{self, Read};

pub struct LineReader<R> {
    inner: R,
    /// One more byte than the longest piece, so a line of exactly that
    /// length still finds its newline in the buffer.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    max: usize,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    /// Reads `inner` in lines of at most `max` bytes (at least 4, the
    /// longest UTF-8 character).
    pub fn new(inner: R, max: usize) -> Self {
        let max = max.max(4);
        LineReader {
            inner,
            buf: vec![0; max + 1].into_boxed_slice(),
            start: 0,
            end: 0,
            max,
            eof: false,
        }
    }

    /// The next line without its newline (nor a `\r` before it), or the
    /// next piece of a longer one; `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(newline) = pending.iter().position(|&b| b == b'\n') {
                let mut line = &pending[..newline];
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += newline + 1;
                return Ok(Some(text));
            }
            if pending.len() > self.max || (self.eof && !pending.is_empty()) {
                let cut = if self.eof && pending.len() <= self.max {
                    pending.len()
                } else {
                    char_boundary(&pending[..self.max])
                };
                let text = String::from_utf8_lossy(&pending[..cut]).into_owned();
                self.start += cut;
                return Ok(Some(text));
            }
            if self.eof {
                return Ok(None);
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a
/// UTF-8 character (all of it when the end is not UTF-8 at all).
fn char_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // The last character starts at most 3 bytes before the end.
    let Some(start) = (len.saturating_sub(4)..len)
        .rev()
        .find(|&i| bytes[i] & 0xC0 != 0x80)
    else {
        return len;
    };
    let width = match bytes[start] {
        b if b < 0x80 => 1,
        b if b & 0xE0 == 0xC0 => 2,
        b if b & 0xF0 == 0xE0 => 3,
        b if b & 0xF8 == 0xF0 => 4,
        _ => 1,
    };
    if start + width > len && start > 0 {
        start
    } else {
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_line_endings() {
        assert_eq!(lines(b"a\nbb\r\n\nccc", 16), ["a", "bb", "", "ccc"]);
        assert!(lines(b"", 16).is_empty());
        // A line exactly as long as the limit stays whole.
        assert_eq!(lines(b"abcdefgh\nx\n", 8), ["abcdefgh", "x"]);
    }

    #[test]
    fn long_lines_come_in_pieces_cut_between_characters() {
        let long = "x".repeat(20);
        assert_eq!(
            lines(format!("{long}\n").as_bytes(), 8),
            ["xxxxxxxx", "xxxxxxxx", "xxxx"]
        );
        // "é" is two bytes: the piece ends before it rather than in it.
        let accented = "xxxxxxxé tail\n";
        assert_eq!(lines(accented.as_bytes(), 8), ["xxxxxxx", "é tail"]);
        // Invalid bytes are replaced, not dropped or fatal.
        assert_eq!(lines(b"ok \xff\xfe\n", 16), ["ok \u{fffd}\u{fffd}"]);
    }

    #[test]
    fn reads_input_that_arrives_in_small_pieces() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut reader = LineReader::new(Trickle(b"first line\nsecond\n"), 64);
        assert_eq!(reader.next_line().unwrap().as_deref(), Some("first line"));
        assert_eq!(reader.next_line().unwrap().as_deref(), Some("second"));
        assert_eq!(reader.next_line().unwrap(), None);
    }
}
