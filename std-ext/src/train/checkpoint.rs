//! Training checkpoints: parameters, Adam's moments and step count, the EMA and its update
//! count, and the step (which is also the data stream's position), with a CRC-32, written
//! atomically (temporary file in the same directory, fsync, rename, fsync of the directory).
//!
//! Layout (little-endian): magic `FLWSCKPT`, version u32, tag length u32 and the model tag
//! (UTF-8: what the model is, so a checkpoint of another model is refused), step u64, Adam steps
//! u64, EMA updates u64, P u64, then params, m, v, avg (P f32 each), then CRC-32 (ISO-HDLC) of
//! everything before it.

use std::fmt;
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"FLWSCKPT";
const VERSION: u32 = 1;
/// The longest model tag a checkpoint holds.
const MAX_TAG: usize = 4096;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A trainer's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// What the model is (kind and shapes), checked on resume.
    pub model_tag: String,
    /// Steps taken.
    pub step: u64,
    /// Adam's step count.
    pub adam_steps: u64,
    /// The EMA's update count.
    pub ema_updates: u64,
    /// The parameters.
    pub params: Vec<f32>,
    /// Adam's first moments.
    pub m: Vec<f32>,
    /// Adam's second moments.
    pub v: Vec<f32>,
    /// The EMA parameters.
    pub avg: Vec<f32>,
}

/// Why a checkpoint cannot be read or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// Not a checkpoint, a damaged one, or one of an unknown version.
    Format(String),
    /// A checkpoint of another model.
    Shape(String),
    /// Reading or writing the file failed.
    Io(String),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Format(s) => write!(f, "not a usable checkpoint: {s}"),
            CheckpointError::Shape(s) => write!(f, "checkpoint of another model: {s}"),
            CheckpointError::Io(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl Checkpoint {
    /// The checkpoint's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = self.params.len();
        let mut b = Vec::with_capacity(64 + self.model_tag.len() + 16 * p);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&(self.model_tag.len() as u32).to_le_bytes());
        b.extend_from_slice(self.model_tag.as_bytes());
        for v in [self.step, self.adam_steps, self.ema_updates, p as u64] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for arr in [&self.params, &self.m, &self.v, &self.avg] {
            for x in arr.iter() {
                b.extend_from_slice(&x.to_le_bytes());
            }
        }
        let crc = CRC.checksum(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parse checkpoint bytes.
    ///
    /// Errors: [`CheckpointError::Format`] for a wrong magic or version, a bad checksum, a
    /// truncated or over-long file, non-finite values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let bad = |s: &str| CheckpointError::Format(s.to_string());
        if bytes.len() < 8 + 4 + 4 + 32 + 4 {
            return Err(bad("file too short"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if bytes.get(..8) != Some(MAGIC.as_slice()) {
            return Err(bad("wrong magic"));
        }
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| bad("file too short"))?);
        if CRC.checksum(body) != crc {
            return Err(bad("checksum mismatch (damaged or truncated)"));
        }
        let mut r = Reader { b: body, at: 8 };
        if r.u32()? != VERSION {
            return Err(bad("unsupported version"));
        }
        let tag_len = r.u32()? as usize;
        if tag_len > MAX_TAG {
            return Err(bad("model tag too long"));
        }
        let model_tag = String::from_utf8(r.take(tag_len)?.to_vec())
            .map_err(|_| bad("model tag is not UTF-8"))?;
        let (step, adam_steps, ema_updates, p) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let p = usize::try_from(p).map_err(|_| bad("parameter count too large"))?;
        if p.checked_mul(16) != Some(body.len().saturating_sub(r.at)) {
            return Err(bad("length does not match the parameter count"));
        }
        let mut arrays = Vec::with_capacity(4);
        for _ in 0..4 {
            let raw = r.take(4 * p)?;
            let v: Vec<f32> =
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if v.iter().any(|x| !x.is_finite()) {
                return Err(bad("non-finite values"));
            }
            arrays.push(v);
        }
        let avg = arrays.pop().unwrap_or_default();
        let v = arrays.pop().unwrap_or_default();
        let m = arrays.pop().unwrap_or_default();
        let params = arrays.pop().unwrap_or_default();
        Ok(Self { model_tag, step, adam_steps, ema_updates, params, m, v, avg })
    }

    /// Write atomically to `path`: a temporary file in the same directory, fsync, rename over
    /// `path`, fsync of the directory. A crash at any moment leaves either the old or the new
    /// checkpoint, never a partial one.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |what: &str, e: std::io::Error| {
            CheckpointError::Io(format!("cannot write checkpoint {}: {what}: {e}", path.display()))
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".ckpt-")
            .tempfile_in(&dir)
            .map_err(|e| io("temporary file", e))?;
        tmp.write_all(&self.to_bytes()).map_err(|e| io("write", e))?;
        tmp.as_file().sync_all().map_err(|e| io("fsync", e))?;
        tmp.persist(path).map_err(|e| io("rename", e.error))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(|e| io("fsync of the directory", e))?;
        }
        Ok(())
    }

    /// Read a checkpoint file.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| {
            CheckpointError::Io(format!("cannot read checkpoint {}: {e}", path.display()))
        })?;
        Self::from_bytes(&bytes)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckpointError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| CheckpointError::Format("file truncated".to_string()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, CheckpointError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, CheckpointError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            model_tag: "test-model".into(),
            step: 7,
            adam_steps: 7,
            ema_updates: 6,
            params: vec![1.0, -2.5, 3.25],
            m: vec![0.1, 0.2, 0.3],
            v: vec![0.01, 0.02, 0.03],
            avg: vec![0.9, -2.4, 3.2],
        }
    }

    #[test]
    fn round_trip_and_every_corruption_is_refused() {
        let c = sample();
        let b = c.to_bytes();
        assert_eq!(Checkpoint::from_bytes(&b).unwrap(), c);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(Checkpoint::from_bytes(&d).is_err(), "flip at byte {i} accepted");
        }
        for n in 0..b.len() {
            assert!(Checkpoint::from_bytes(&b[..n]).is_err(), "truncation to {n} accepted");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(Checkpoint::from_bytes(&longer).is_err());
    }

    #[test]
    fn save_replaces_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let mut c = sample();
        c.save(&path).unwrap();
        c.step = 8;
        c.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), c);
        // Only the checkpoint is left: no temporary files.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
