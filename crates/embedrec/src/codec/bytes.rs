//! Explicit little-endian encoding of plain values, for records whose layout is documented
//! byte by byte (the journal's): a writer over a `Vec<u8>` and a bounds-checked reader that
//! never trusts a length before checking it against the bytes left.

/// Appends little-endian values.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f32s(&mut self, v: &[f32]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f64s(&mut self, v: &[f64]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    /// Hands what was written so far to `out` once it passes 1 MiB (a record written in
    /// parts streams, never held whole).
    pub(crate) fn spill(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.0.len() >= 1 << 20 {
            out.write_all(&self.0)?;
            self.0.clear();
        }
        Ok(())
    }
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub(crate) fn i64s(&mut self, v: &[i64]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    /// A u64 count then the values (arrays that may pass 2³² values).
    pub(crate) fn f32_array(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        self.f32s(v);
    }
    pub(crate) fn u32_array(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.u32s(v);
    }
    /// Zeros up to the next multiple of `align` bytes from the record's start (a record
    /// not spilled yet: its position is its length).
    pub(crate) fn pad(&mut self, align: usize) {
        let n = self.0.len().next_multiple_of(align);
        self.0.resize(n, 0);
    }
    /// A count: u32 (callers keep counts below 2³²).
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    /// A string: its byte length (u32), then its UTF-8 bytes.
    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads little-endian values; every read checks the bytes left.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type R<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.bytes.len() - self.at < n {
            return Err(format!(
                "{n} bytes wanted at offset {}, {} left",
                self.at,
                self.bytes.len() - self.at
            ));
        }
        self.at += n;
        Ok(&self.bytes[self.at - n..self.at])
    }
    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub(crate) fn f64(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub(crate) fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A u64 that must fit a `usize` and be at most `max`.
    pub(crate) fn usize_at_most(&mut self, max: u64, what: &str) -> R<usize> {
        let v = self.u64()?;
        if v > max {
            return Err(format!("{what} {v} exceeds {max}"));
        }
        usize::try_from(v).map_err(|_| format!("{what} {v} does not fit this machine"))
    }
    pub(crate) fn f64s(&mut self, n: usize) -> R<Vec<f64>> {
        let b = self.take(n.checked_mul(8).ok_or("too many values")?)?;
        Ok(b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    /// A count of items of at least `item_bytes` bytes each, checked against the bytes left
    /// (so a hostile count cannot make the caller reserve more than the record holds).
    pub(crate) fn len(&mut self, item_bytes: usize) -> R<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item_bytes.max(1)) > self.bytes.len() - self.at {
            return Err(format!("a count of {n} exceeds the bytes left"));
        }
        Ok(n)
    }
    /// A u64 count of items of at least `item_bytes` bytes each, checked against the bytes
    /// left (for arrays that may pass 2³² values).
    pub(crate) fn len64(&mut self, item_bytes: usize) -> R<usize> {
        let n = self.u64()?;
        if n.saturating_mul(item_bytes.max(1) as u64) > (self.bytes.len() - self.at) as u64 {
            return Err(format!("a count of {n} exceeds the bytes left"));
        }
        Ok(n as usize)
    }
    pub(crate) fn u8s(&mut self, n: usize) -> R<&'a [u8]> {
        self.take(n)
    }
    pub(crate) fn f32s(&mut self, n: usize) -> R<Vec<f32>> {
        let b = self.take(n.checked_mul(4).ok_or("too many values")?)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    pub(crate) fn u32s(&mut self, n: usize) -> R<Vec<u32>> {
        let b = self.take(n.checked_mul(4).ok_or("too many values")?)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    pub(crate) fn i64s(&mut self, n: usize) -> R<Vec<i64>> {
        let b = self.take(n.checked_mul(8).ok_or("too many values")?)?;
        Ok(b.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    pub(crate) fn str(&mut self) -> R<&'a str> {
        let n = self.len(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("a string is not UTF-8: {e}"))
    }
    /// Bytes read so far (the offset of the next value in the record).
    pub(crate) fn position(&self) -> usize {
        self.at
    }
    /// Skips the zeros [`Writer::pad`] wrote up to a multiple of `align`; other bytes there
    /// are an error.
    pub(crate) fn padding(&mut self, align: usize) -> R<()> {
        let n = self.at.next_multiple_of(align) - self.at;
        if self.take(n)?.iter().any(|&b| b != 0) {
            return Err(format!("non-zero padding before offset {}", self.at));
        }
        Ok(())
    }
    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> R<()> {
        if self.at != self.bytes.len() {
            return Err(format!("{} bytes left over", self.bytes.len() - self.at));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_or_hostile_input_is_an_error() {
        let mut w = Writer::default();
        w.u8(1);
        w.u32(7);
        w.f64(-0.5);
        w.str("héllo");
        w.len(2);
        w.f32s(&[1.5, 2.5]);
        let mut r = Reader::new(&w.0);
        assert_eq!((r.u8(), r.u32()), (Ok(1), Ok(7)));
        assert_eq!((r.f64(), r.str()), (Ok(-0.5), Ok("héllo")));
        let n = r.len(4).unwrap();
        assert_eq!(r.f32s(n), Ok(vec![1.5, 2.5]));
        assert!(r.finish().is_ok() && r.u8().is_err());
        let hostile = [0xff, 0xff, 0xff, 0xff, 0];
        assert!(Reader::new(&hostile).len(1).is_err());
        assert!(Reader::new(&hostile).str().is_err());
    }
}
