//! A blocking client of ternd's control socket.
use std::{
    io::BufReader,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use tern_control::{Reply, Request, framing};

/// Errors reaching or talking to ternd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to ternd at {path}: {source} (is ternd running{hint}?)")]
    Connect {
        path: PathBuf,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to ternd: {0}")]
    Protocol(#[from] tern_control::Error),
}

/// One connection to a ternd.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects to the socket of `instance` (None: the default instance).
    pub fn connect(instance: Option<&str>) -> Result<Client, ClientError> {
        let path = tern_control::socket_path(instance)?;
        let hint = match instance {
            Some(n) => format!(" with -N {n}"),
            None => String::new(),
        };
        Self::connect_path(&path, hint)
    }

    fn connect_path(path: &Path, hint: String) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_owned(),
            hint,
            source,
        })?;
        // A daemon that hangs must not hang the operator's shell forever.
        let timeout = Some(Duration::from_secs(30));
        let _ = stream.set_read_timeout(timeout);
        let _ = stream.set_write_timeout(timeout);
        let writer = stream
            .try_clone()
            .map_err(|e| ClientError::Protocol(e.into()))?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends one request and waits for its reply.
    pub fn request(&mut self, req: &Request) -> Result<Reply, ClientError> {
        framing::write_msg(&mut self.writer, req)?;
        Ok(framing::read_reply(&mut self.reader)?)
    }

    /// Sends a request answered by a stream of replies (a whole BGP table)
    /// and hands each to `each` as it arrives, until the stream's end. When
    /// `each` gives up (false: its output went away), the connection is
    /// shut, which tells ternd to stop.
    pub fn request_stream(
        &mut self,
        req: &Request,
        each: &mut dyn FnMut(Reply) -> bool,
    ) -> Result<(), ClientError> {
        framing::write_msg(&mut self.writer, req)?;
        loop {
            let line = framing::read_line_max(&mut self.reader, tern_control::MAX_REPLY)?
                .ok_or(tern_control::Error::Closed)?;
            let reply = decode_reply(&line)?;
            let last = !matches!(
                reply,
                Reply::BgpTableStart(_)
                    | Reply::BgpRoutes { .. }
                    | Reply::RoutesStart
                    | Reply::Routes { .. }
            );
            if !each(reply) {
                let _ = self.writer.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            if last {
                return Ok(());
            }
        }
    }
}

/// The body of a chunk of a streamed table. serde decodes an internally
/// tagged enum through a buffer of the whole document; a chunk (thousands
/// of routes) is decoded straight into this instead, which takes the
/// client a third of the time.
#[derive(serde::Deserialize)]
struct RoutesChunk {
    routes: Vec<tern_control::BgpRoute>,
}

/// One reply line of a stream.
fn decode_reply(line: &[u8]) -> Result<Reply, tern_control::Error> {
    const CHUNK: &[u8] = br#"{"reply":"bgp-routes","#;
    if line.starts_with(CHUNK) {
        let chunk: RoutesChunk = serde_json::from_slice(line)?;
        return Ok(Reply::BgpRoutes {
            routes: chunk.routes,
        });
    }
    Ok(serde_json::from_slice(line)?)
}
