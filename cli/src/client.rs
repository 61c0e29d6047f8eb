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
}
