//! Bounded gzip decompression for request bodies: a small compressed body can expand to
//! gigabytes, so output stops one byte past the limit and that is reported as its own error
//! (RESOURCE_EXHAUSTED / 413), never an allocation failure.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Why a gzip body could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum GunzipError {
    /// The body decompresses to more than the limit (gRPC RESOURCE_EXHAUSTED, HTTP 413).
    #[error("gzip body decompresses to more than {limit} bytes")]
    TooLarge { limit: usize },
    /// Not valid gzip (HTTP 400).
    #[error("invalid gzip body: {0}")]
    Corrupt(#[from] std::io::Error),
}

/// Decompresses a gzip body (one or several concatenated members) of at most
/// `max_decompressed` bytes.
pub fn gunzip(bytes: &[u8], max_decompressed: usize) -> Result<Vec<u8>, GunzipError> {
    // OTLP protobuf compresses 5-10x; start there, capped by the limit, to avoid regrowth.
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8).min(max_decompressed));
    let limit = u64::try_from(max_decompressed)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    MultiGzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)?;
    if out.len() > max_decompressed {
        return Err(GunzipError::TooLarge {
            limit: max_decompressed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trips_within_the_limit() {
        let data = b"resource_spans".repeat(100);
        assert_eq!(gunzip(&gz(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn concatenated_members_are_one_body() {
        let mut body = gz(b"hello ");
        body.extend(gz(b"world"));
        assert_eq!(gunzip(&body, 100).unwrap(), b"hello world");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compresses to ~64 KiB; the limit is 1 MiB.
        let bomb = gz(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        match gunzip(&bomb, 1 << 20) {
            Err(GunzipError::TooLarge { limit }) => assert_eq!(limit, 1 << 20),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let exact = gz(&[7u8; 1000]);
        assert_eq!(gunzip(&exact, 1000).unwrap().len(), 1000);
        assert!(matches!(
            gunzip(&exact, 999),
            Err(GunzipError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_corrupt_not_too_large() {
        assert!(matches!(
            gunzip(b"not gzip at all", 1000),
            Err(GunzipError::Corrupt(_))
        ));
        let mut truncated = gz(b"some body that is long enough");
        truncated.truncate(truncated.len() - 6);
        assert!(matches!(
            gunzip(&truncated, 1000),
            Err(GunzipError::Corrupt(_))
        ));
    }
}
