//! A small RESP2 client connection: send a command, read its reply. The admin operations and
//! the simulator's workload clients use it; under `--cfg madsim` the socket is simulated.

use crate::resp::{encode_request, parse_reply};
use bytes::BytesMut;
use clusterlab_core::Reply;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One TCP connection to a node, used strictly request–reply.
pub struct Connection {
    stream: TcpStream,
    addr: String,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl Connection {
    /// Connects to `addr` (`ip:port`).
    pub async fn connect(addr: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        Ok(Connection {
            stream,
            addr: addr.to_string(),
            read_buf: BytesMut::with_capacity(4096),
            write_buf: BytesMut::with_capacity(256),
        })
    }

    /// The address this connection was opened to, as given to [`Connection::connect`].
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one command and waits for its reply. An error reply is `Ok(Reply::Error(..))`;
    /// `Err` means the connection failed or the peer broke the protocol.
    pub async fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.send(args).await?;
        self.read_reply().await
    }

    /// [`Connection::command`] with text arguments.
    pub async fn command_str(&mut self, args: &[&str]) -> io::Result<Reply> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args).await
    }

    /// Writes one command without waiting for its reply (pipelining); pair each call with a
    /// [`Connection::read_reply`].
    pub async fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.write_buf.clear();
        encode_request(args, &mut self.write_buf);
        self.stream.write_all(&self.write_buf).await?;
        self.stream.flush().await
    }

    /// Reads the next reply.
    pub async fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            match parse_reply(&mut self.read_buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection to {} closed before a reply", self.addr),
                ));
            }
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection fake server that answers each request with a canned reply.
    async fn serve(listener: TcpListener, replies: Vec<&'static [u8]>) -> Vec<Vec<u8>> {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut seen = Vec::new();
        let mut buf = BytesMut::new();
        for reply in replies {
            let request = loop {
                if let Some(req) = crate::resp::parse_request(&mut buf).expect("valid request") {
                    break req;
                }
                assert!(socket.read_buf(&mut buf).await.expect("read") > 0);
            };
            seen.push(request.concat());
            // Split the reply so the client has to wait for the rest.
            let (a, b) = reply.split_at(reply.len() / 2);
            socket.write_all(a).await.expect("write");
            socket.flush().await.expect("flush");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            socket.write_all(b).await.expect("write");
            socket.flush().await.expect("flush");
        }
        seen
    }

    #[tokio::test]
    async fn command_round_trips_and_reports_eof() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = tokio::spawn(serve(
            listener,
            vec![b"+PONG\r\n", b"*2\r\n$1\r\na\r\n$-1\r\n"],
        ));
        let mut conn = Connection::connect(&addr).await.expect("connect");
        assert_eq!(
            conn.command_str(&["PING"]).await.expect("ping"),
            Reply::simple("PONG")
        );
        assert_eq!(
            conn.command(&[b"MGET", b"x", b"y"]).await.expect("mget"),
            Reply::Array(vec![Reply::bulk_str("a"), Reply::Nil])
        );
        let seen = server.await.expect("server");
        assert_eq!(seen, vec![b"PING".to_vec(), b"MGETxy".to_vec()]);
        let err = conn
            .command_str(&["PING"])
            .await
            .expect_err("server is gone");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
    }
}
