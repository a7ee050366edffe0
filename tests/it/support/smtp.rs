//! `SmtpServer`: a tiny real SMTP listener for integration tests.
//!
//! Plain TCP on `127.0.0.1:0` (std::net, blocking, one thread per
//! connection), no TLS. It speaks enough SMTP for lettre's client: greeting
//! 220, EHLO/HELO (advertising `AUTH PLAIN LOGIN`, `8BITMIME`, `SMTPUTF8`),
//! AUTH PLAIN and AUTH LOGIN accepting any credentials, MAIL FROM, RCPT TO,
//! DATA (dot-unstuffed, ended by `\r\n.\r\n`), RSET, NOOP, VRFY, QUIT.
//! Each accepted message is recorded as a [`ReceivedMail`].
//!
//! [`SmtpServer::set_down`] simulates a mail server that is down: new
//! connections get `421` and are closed. `SmtpServer` is a cheap `Clone`;
//! the listener stops when [`SmtpServer::stop`] is called or the last clone
//! is dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A connection that says nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest accepted command line or DATA line, in bytes.
const MAX_LINE: usize = 64 * 1024;

/// Largest accepted message, in bytes.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// One message accepted by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The MAIL FROM address, without angle brackets (empty for `<>`).
    pub from: String,
    /// The RCPT TO addresses, without angle brackets, in order.
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body, CRLF line ends),
    /// dot-unstuffed, without the terminating `.` line.
    pub data: String,
    /// The user name given with AUTH PLAIN / LOGIN on that connection, if any.
    pub auth_user: Option<String>,
}

impl ReceivedMail {
    /// Raw (unfolded, not decoded) value of the first header `name`
    /// (case-insensitive), looked up in the header block of `data`.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for line in self.data.split("\r\n").flat_map(|l| l.split('\n')) {
            if line.is_empty() {
                break; // end of the header block
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break; // the next header starts: ours is complete
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.trim().eq_ignore_ascii_case(name) {
                    found = Some(v.trim().to_owned());
                }
            }
        }
        found
    }

    /// The Subject header, with RFC 2047 encoded words (`=?utf-8?B?..?=`,
    /// `=?utf-8?Q?..?=`) decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("subject").map(|s| decode_encoded_words(&s))
    }

    /// The message body: what follows the first empty line of `data`.
    pub fn body(&self) -> &str {
        if let Some(i) = self.data.find("\r\n\r\n") {
            &self.data[i + 4..]
        } else if let Some(i) = self.data.find("\n\n") {
            &self.data[i + 2..]
        } else {
            ""
        }
    }

    /// The body as text: quoted-printable soft line breaks and `=XX` escapes undone when
    /// the message says it is quoted-printable, line ends as `\n`.
    pub fn text(&self) -> String {
        let body = self.body();
        let qp = self.data.to_ascii_lowercase().contains("content-transfer-encoding: quoted-printable");
        if !qp {
            return body.replace("\r\n", "\n");
        }
        let joined = body.replace("=\r\n", "").replace("=\n", "");
        String::from_utf8_lossy(&unescape(&joined, false)).replace("\r\n", "\n")
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    down: AtomicBool,
    stopping: AtomicBool,
}

/// Lock a mutex even if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Inner {
    port: u16,
    shared: Arc<Shared>,
    accept_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn stop(&self) {
        let Some(thread) = lock(&self.accept_thread).take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so it sees the flag. If the connect
        // fails the listener is already gone, which is what we want.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = thread.join();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A tiny SMTP server on 127.0.0.1; see the module docs.
#[derive(Clone)]
pub struct SmtpServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer").field("port", &self.inner.port).field("messages", &self.messages().len()).finish()
    }
}

impl SmtpServer {
    /// Start listening on a free port of 127.0.0.1.
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("smtp server: bind 127.0.0.1:0 failed");
        let port = listener.local_addr().expect("smtp server: local_addr of bound listener").port();
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("test-smtp-{port}"))
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("smtp server: spawning accept thread failed");
        SmtpServer { inner: Arc::new(Inner { port, shared, accept_thread: Mutex::new(Some(thread)) }) }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.inner.port)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// All messages accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.inner.shared.messages).clone()
    }

    /// Forget the messages accepted so far.
    pub fn clear(&self) {
        lock(&self.inner.shared.messages).clear();
    }

    /// Block (polling every 10ms) until at least `n` messages arrived, then
    /// return all of them; panics after `timeout` saying how many arrived.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.messages();
            if all.len() >= n {
                return all;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = all.iter().map(|m| format!("{:?} -> {:?}", m.subject(), m.to)).collect();
                panic!(
                    "smtp server on port {}: timed out after {timeout:?} waiting for {n} \
                     message(s); only {} arrived: {seen:?}",
                    self.inner.port,
                    all.len()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// When `true`, new connections are answered `421` and closed (a mail
    /// server that is down). Connections already open are not affected.
    pub fn set_down(&self, down: bool) {
        self.inner.shared.down.store(down, Ordering::SeqCst);
    }

    /// Stop accepting connections (afterwards they are refused).
    /// Idempotent; also done when the last clone is dropped.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("smtp server: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name("test-smtp-conn".to_owned()).spawn(move || {
            let mut session = Session::new(&conn_shared);
            if let Err(e) = session.run(stream) {
                // Clients hanging up mid-session is normal in tests.
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("smtp server: connection ended: {e}");
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("smtp server: spawning connection thread failed: {e}");
        }
    }
}

/// One SMTP conversation.
struct Session<'a> {
    shared: &'a Shared,
    auth_user: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared) -> Self {
        Session { shared, auth_user: None, from: None, to: Vec::new() }
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    fn run(&mut self, stream: TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
        stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
        // A reply is written in two pieces; without this, Nagle's algorithm and the
        // client's delayed ACK add ~40 ms to every command, ~250 ms to every email.
        stream.set_nodelay(true)?;
        let mut out = stream.try_clone()?;
        let mut input = BufReader::new(stream);

        if self.shared.down.load(Ordering::SeqCst) {
            reply(&mut out, "421 4.3.2 test server is down, closing connection")?;
            return out.shutdown(Shutdown::Both);
        }
        reply(&mut out, "220 localhost ESMTP mailhooks-test-smtp ready")?;

        loop {
            let line = read_line(&mut input)?;
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
                None => (line.to_ascii_uppercase(), ""),
            };
            match verb.as_str() {
                "EHLO" => {
                    self.reset();
                    reply(
                        &mut out,
                        "250-localhost greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                         250-AUTH PLAIN LOGIN\r\n250 HELP",
                    )?;
                }
                "HELO" => {
                    self.reset();
                    reply(&mut out, "250 localhost")?;
                }
                "AUTH" => self.auth(arg, &mut input, &mut out)?,
                "MAIL" => match strip_prefix_ci(arg, "FROM:") {
                    Some(rest) => {
                        self.reset();
                        self.from = Some(address(rest));
                        reply(&mut out, "250 2.1.0 OK")?;
                    }
                    None => reply(&mut out, "501 5.5.4 syntax: MAIL FROM:<address>")?,
                },
                "RCPT" => match (self.from.is_some(), strip_prefix_ci(arg, "TO:")) {
                    (false, _) => reply(&mut out, "503 5.5.1 need MAIL before RCPT")?,
                    (true, Some(rest)) => {
                        self.to.push(address(rest));
                        reply(&mut out, "250 2.1.5 OK")?;
                    }
                    (true, None) => reply(&mut out, "501 5.5.4 syntax: RCPT TO:<address>")?,
                },
                "DATA" => {
                    if self.from.is_none() || self.to.is_empty() {
                        reply(&mut out, "503 5.5.1 need MAIL and RCPT before DATA")?;
                        continue;
                    }
                    reply(&mut out, "354 end data with <CR><LF>.<CR><LF>")?;
                    let data = read_data(&mut input)?;
                    let mail = ReceivedMail {
                        from: self.from.take().unwrap_or_default(),
                        to: std::mem::take(&mut self.to),
                        data,
                        auth_user: self.auth_user.clone(),
                    };
                    lock(&self.shared.messages).push(mail);
                    reply(&mut out, "250 2.0.0 OK queued")?;
                }
                "RSET" => {
                    self.reset();
                    reply(&mut out, "250 2.0.0 OK")?;
                }
                "NOOP" => reply(&mut out, "250 2.0.0 OK")?,
                "VRFY" => reply(&mut out, "252 2.0.0 cannot verify, will try")?,
                "QUIT" => {
                    reply(&mut out, "221 2.0.0 bye")?;
                    return out.shutdown(Shutdown::Both);
                }
                "STARTTLS" => reply(&mut out, "502 5.5.1 TLS not available")?,
                _ => reply(&mut out, "502 5.5.2 command not recognized")?,
            }
        }
    }

    /// AUTH PLAIN [initial] / AUTH LOGIN [initial]; any credentials pass.
    fn auth(&mut self, arg: &str, input: &mut BufReader<TcpStream>, out: &mut TcpStream) -> io::Result<()> {
        if self.auth_user.is_some() {
            return reply(out, "503 5.5.1 already authenticated");
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_owned())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let user = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(i) => i,
                    None => {
                        reply(out, "334 ")?;
                        read_line(input)?
                    }
                };
                if response == "*" {
                    return reply(out, "501 5.7.0 authentication cancelled");
                }
                // authzid \0 authcid \0 password
                let decoded = base64_decode(&response).unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                parts.get(1).map(|u| String::from_utf8_lossy(u).into_owned()).unwrap_or_default()
            }
            "LOGIN" => {
                let user_b64 = match initial {
                    Some(i) => i,
                    None => {
                        reply(out, "334 VXNlcm5hbWU6")?; // "Username:"
                        read_line(input)?
                    }
                };
                if user_b64 == "*" {
                    return reply(out, "501 5.7.0 authentication cancelled");
                }
                reply(out, "334 UGFzc3dvcmQ6")?; // "Password:"
                let password = read_line(input)?;
                if password == "*" {
                    return reply(out, "501 5.7.0 authentication cancelled");
                }
                let user = base64_decode(&user_b64).unwrap_or_default();
                String::from_utf8_lossy(&user).into_owned()
            }
            _ => return reply(out, "504 5.5.4 mechanism not supported"),
        };
        self.auth_user = Some(user);
        reply(out, "235 2.7.0 authentication successful")
    }
}

/// Write one reply (which may hold several CRLF-separated lines) + CRLF.
fn reply(out: &mut TcpStream, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// Read one line without its line end; EOF is an `UnexpectedEof` error.
fn read_line(input: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = input.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client closed the connection"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Read DATA lines until a line holding only `.`; undo dot-stuffing and
/// join lines with CRLF (the final line end before `.` is kept).
fn read_data(input: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut data = String::new();
    loop {
        let line = read_line(input)?;
        if line == "." {
            return Ok(data);
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        if data.len() + line.len() > MAX_MESSAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "message larger than the test server accepts"));
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
}

/// `s` without a case-insensitive `prefix`, if it starts with it.
fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| s[prefix.len()..].trim_start())
}

/// The address of `<addr> PARAMS` (or a bare `addr PARAMS`).
fn address(rest: &str) -> String {
    let rest = rest.trim();
    if let Some(after) = rest.strip_prefix('<') {
        if let Some(end) = after.find('>') {
            return after[..end].to_owned();
        }
    }
    rest.split_whitespace().next().unwrap_or("").to_owned()
}

/// Standard base64 (padding optional); `None` on invalid input.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim().bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decode RFC 2047 encoded words (`=?charset?B|Q?text?=`); charsets are
/// taken as UTF-8. Whitespace between two encoded words is dropped.
fn decode_encoded_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        match parse_encoded_word(&rest[start..]) {
            Some((text, len)) => {
                let between = &rest[..start];
                if !(last_was_word && between.trim().is_empty()) {
                    out.push_str(between);
                }
                out.push_str(&text);
                rest = &rest[start + len..];
                last_was_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parse one `=?charset?enc?text?=` at the start of `s`:
/// (decoded text, bytes consumed).
fn parse_encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let charset_end = inner.find('?')?;
    let encoding = inner.get(charset_end + 1..charset_end + 2)?;
    if inner.get(charset_end + 2..charset_end + 3)? != "?" {
        return None;
    }
    let text_start = charset_end + 3;
    let text_len = inner[text_start..].find("?=")?;
    let text = &inner[text_start..text_start + text_len];
    let bytes = match encoding {
        "B" | "b" => base64_decode(text)?,
        "Q" | "q" => q_decode(text),
        _ => return None,
    };
    let consumed = 2 + text_start + text_len + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), consumed))
}

/// RFC 2047 "Q" decoding: `_` is a space, `=XX` a hex byte.
fn q_decode(s: &str) -> Vec<u8> {
    unescape(s, true)
}

/// Undoes `=XX` hex escapes (quoted-printable and "Q" encoding); with `underscore_is_space`
/// (the "Q" form), `_` is a space too.
fn unescape(s: &str, underscore_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'_', None) if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}
