//! RESP client connection. (Owner: codec helper.)
//!
//! API: `Connection::connect(addr: &str) -> io::Result<Connection>`,
//! `Connection::command(&mut self, args: &[&[u8]]) -> io::Result<Reply>`.
