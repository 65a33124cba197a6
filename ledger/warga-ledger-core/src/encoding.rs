//! The canonical encoding of what is signed and hashed: fields in a fixed order, lengths
//! prefixed, a domain tag per kind — not a wire format, so re-encoding on the wire can never
//! change what a signature means.

/// Builds canonical bytes.
#[derive(Default)]
pub struct Encoder(Vec<u8>);

impl Encoder {
    pub fn new(domain: &str) -> Encoder {
        let mut e = Encoder(Vec::with_capacity(256));
        e.str(domain);
        e
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(v.len() as u32).to_be_bytes());
        self.0.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.bytes(v);
            }
        }
        self
    }
    pub fn count(&mut self, n: usize) -> &mut Self {
        self.0.extend_from_slice(&(n as u32).to_be_bytes());
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}
