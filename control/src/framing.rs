//! Line framing for the control socket: read at most MAX_LINE bytes up to a
//! newline, write one JSON document plus a newline. Blocking (std) helpers
//! for the CLI; the daemon uses the same rules with tokio.
use std::io::{BufRead, Write};

use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, MAX_LINE};

/// Reads one line (without its newline). `Ok(None)` at a clean end of stream.
pub fn read_line<R: BufRead>(r: &mut R) -> Result<Option<Vec<u8>>, Error> {
    read_line_max(r, MAX_LINE)
}

/// Like [`read_line`], with the longest line allowed.
pub fn read_line_max<R: BufRead>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>, Error> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(Error::Closed)
            };
        }
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            if line.len() + pos > max {
                return Err(Error::TooLong);
            }
            line.extend_from_slice(&buf[..pos]);
            r.consume(pos + 1);
            return Ok(Some(line));
        }
        let n = buf.len();
        if line.len() + n > max {
            return Err(Error::TooLong);
        }
        line.extend_from_slice(buf);
        r.consume(n);
    }
}

/// Writes `msg` as one JSON line and flushes.
pub fn write_msg<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), Error> {
    let mut buf = serde_json::to_vec(msg)?;
    buf.push(b'\n');
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one JSON line into `T`.
pub fn read_msg<R: BufRead, T: DeserializeOwned>(r: &mut R) -> Result<T, Error> {
    let line = read_line(r)?.ok_or(Error::Closed)?;
    Ok(serde_json::from_slice(&line)?)
}

/// Reads the daemon's reply, up to [`crate::MAX_REPLY`] bytes.
pub fn read_reply<R: BufRead, T: DeserializeOwned>(r: &mut R) -> Result<T, Error> {
    let line = read_line_max(r, crate::MAX_REPLY)?.ok_or(Error::Closed)?;
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn lines_are_split_and_bounded() {
        let mut c = Cursor::new(b"{\"a\":1}\n{\"b\":2}\n".to_vec());
        assert_eq!(read_line(&mut c).unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(read_line(&mut c).unwrap().unwrap(), b"{\"b\":2}");
        assert!(read_line(&mut c).unwrap().is_none());
        let mut c = Cursor::new(b"partial".to_vec());
        assert!(matches!(read_line(&mut c), Err(Error::Closed)));
        let mut c = Cursor::new(vec![b'x'; MAX_LINE + 2]);
        assert!(matches!(read_line(&mut c), Err(Error::TooLong)));
    }
}
