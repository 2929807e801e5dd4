//! Text files in the encodings spreadsheets write, read as UTF-8: UTF-16 with its byte-order
//! mark (Excel's "Unicode text"), and Windows-1252 (Excel's CSV on Windows; Latin-1 for
//! letters), whose accented letters are not valid UTF-8 on their own.

use std::io::{self, Read};

/// Windows-1252's characters for the bytes 0x80 to 0x9F (the five it leaves undefined keep
/// their Latin-1 control character); from 0xA0 up it agrees with Latin-1 and Unicode.
const WINDOWS_1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// The character a byte stands for in Windows-1252.
fn windows_1252(byte: u8) -> char {
    match byte {
        0x80..=0x9f => WINDOWS_1252_HIGH[usize::from(byte - 0x80)],
        b => char::from(b),
    }
}

/// How the bytes are read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    /// Not decided: nothing read yet.
    Unknown,
    /// UTF-8, any byte outside a valid sequence read as Windows-1252.
    Utf8OrWindows1252,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
}

/// A reader that hands out UTF-8 whatever the encoding of the bytes under it: UTF-16 when they
/// start with its byte-order mark, otherwise UTF-8 with any byte that does not belong to a valid
/// UTF-8 sequence read as Windows-1252. Valid UTF-8 passes through unchanged.
pub struct Utf8Reader<R> {
    inner: R,
    encoding: Encoding,
    /// Bytes read but not yet decoded: the start of a sequence cut by the end of a read.
    pending: Vec<u8>,
    /// Decoded UTF-8 not yet handed out, from `start`.
    decoded: Vec<u8>,
    start: usize,
    /// Bytes read as Windows-1252.
    replaced: u64,
}

impl<R: Read> Utf8Reader<R> {
    /// Reads `inner` as UTF-8.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            encoding: Encoding::Unknown,
            pending: Vec::new(),
            decoded: Vec::new(),
            start: 0,
            replaced: 0,
        }
    }

    /// How many bytes so far were not UTF-8 and were read as Windows-1252.
    pub fn windows_1252_bytes(&self) -> u64 {
        self.replaced
    }

    /// Reads the next block from `inner` and decodes what of it is complete; false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        let mut block = [0u8; 1 << 16];
        let n = loop {
            match self.inner.read(&mut block) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.pending.extend_from_slice(&block[..n]);
        let end = n == 0;
        if self.encoding == Encoding::Unknown {
            if self.pending.len() < 2 && !end {
                return Ok(true);
            }
            self.encoding = match self.pending.get(..2) {
                Some([0xff, 0xfe]) => Encoding::Utf16Le,
                Some([0xfe, 0xff]) => Encoding::Utf16Be,
                _ => Encoding::Utf8OrWindows1252,
            };
            if self.encoding != Encoding::Utf8OrWindows1252 {
                self.pending.drain(..2);
            }
        }
        self.decoded.clear();
        self.start = 0;
        match self.encoding {
            Encoding::Utf16Le => self.utf16(u16::from_le_bytes, end),
            Encoding::Utf16Be => self.utf16(u16::from_be_bytes, end),
            _ => self.utf8(end),
        }
        Ok(!end || !self.decoded.is_empty())
    }

    /// Decodes `pending` as UTF-8, bytes outside valid sequences as Windows-1252; an
    /// incomplete sequence at the end waits for the next block unless this is the `end`.
    fn utf8(&mut self, end: bool) {
        let bytes = std::mem::take(&mut self.pending);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.decoded.extend_from_slice(text.as_bytes());
                    rest = &[];
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.decoded.extend_from_slice(valid);
                    if e.error_len().is_none() && !end {
                        self.pending = after.to_vec();
                        break;
                    }
                    let mut utf8 = [0u8; 4];
                    let c = windows_1252(after[0]);
                    self.decoded
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    self.replaced += 1;
                    rest = &after[1..];
                }
            }
        }
    }

    /// Decodes `pending` as UTF-16 units made by `unit`; an odd byte or a lone high surrogate
    /// at the end waits for the next block unless this is the `end` (then U+FFFD).
    fn utf16(&mut self, unit: fn([u8; 2]) -> u16, end: bool) {
        let whole = self.pending.len() / 2 * 2;
        let mut units: Vec<u16> = self.pending[..whole]
            .chunks_exact(2)
            .map(|p| unit([p[0], p[1]]))
            .collect();
        let mut kept = self.pending.split_off(whole);
        if !end
            && let Some(&last) = units.last()
            && (0xd800..0xdc00).contains(&last)
        {
            units.pop();
            let mut high = self.pending[whole - 2..whole].to_vec();
            high.append(&mut kept);
            kept = high;
        }
        let mut utf8 = [0u8; 4];
        for c in char::decode_utf16(units) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            self.decoded
                .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        if end && !kept.is_empty() {
            self.decoded.extend_from_slice("\u{fffd}".as_bytes());
            kept.clear();
        }
        self.pending = kept;
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.decoded.len() {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.decoded.len() - self.start);
        buf[..n].copy_from_slice(&self.decoded[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, to cut every sequence.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((&b, rest)) if !buf.is_empty() => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn decode(bytes: &[u8]) -> (String, u64) {
        let mut whole = Utf8Reader::new(bytes);
        let mut text = String::new();
        whole.read_to_string(&mut text).unwrap();
        let mut trickled = Utf8Reader::new(Trickle(bytes));
        let mut same = String::new();
        trickled.read_to_string(&mut same).unwrap();
        assert_eq!(
            text, same,
            "decoding does not depend on how reads cut the bytes"
        );
        (text, whole.windows_1252_bytes())
    }

    #[test]
    fn utf8_passes_through_and_windows_1252_bytes_become_their_letters() {
        let utf8 = "café,naïve,€5,日本\n";
        assert_eq!(decode(utf8.as_bytes()), (utf8.to_string(), 0));
        // "café,“€5”\n" as Windows-1252 writes it.
        let cp1252 = b"caf\xe9,\x93\x805\x94\n";
        assert_eq!(decode(cp1252), ("café,“€5”\n".to_string(), 4));
        assert_eq!(
            decode(b"a\xc3"),
            ("aÃ".to_string(), 1),
            "a cut sequence at the end"
        );
    }

    #[test]
    fn a_windows_1252_table_reads_its_accented_labels() {
        let bytes = b"name;size\ncaf\xe9;1\nna\xefve;2\n";
        let reader = std::io::BufReader::new(Utf8Reader::new(&bytes[..]));
        let t = crate::read::read_csv(reader, "t.csv").unwrap();
        let names: Vec<String> = t.columns[0].cells.iter().map(|c| c.as_text()).collect();
        assert_eq!(names, ["café", "naïve"]);
    }

    #[test]
    fn utf16_with_its_byte_order_mark_is_decoded() {
        let text = "name\tprice\ncafé\t€5 😀\n";
        let mut le = vec![0xff, 0xfe];
        let mut be = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(decode(&le).0, text);
        assert_eq!(decode(&be).0, text);
        assert_eq!(
            decode(&[0xff, 0xfe, 0x61]).0,
            "\u{fffd}",
            "an odd byte at the end"
        );
        assert_eq!(decode(b"").0, "");
    }
}
