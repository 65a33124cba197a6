//! Citizens' photos made safe to keep and to show: the type is sniffed from the content
//! (never the name or the declared type), a file that carries anything after its image is
//! refused (a polyglot), and the image is decoded — within pixel and memory limits — and
//! encoded anew with its orientation applied. The new file carries no EXIF, XMP, IPTC, GPS,
//! comment or thumbnail: nothing of the original's metadata survives, because none of it
//! is copied.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::ReportsError;

/// The longest side a stored photo keeps; larger photos are scaled down (enough to see a
/// pothole, and light on a phone's connection).
pub const MAX_SIDE: u32 = 2048;

/// A photo ready to be sealed and stored.
#[derive(Debug)]
pub struct Photo {
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// What a photo may be.
#[derive(Clone, Copy, Debug)]
pub struct PhotoLimits {
    pub max_bytes: usize,
    /// Width × height of the original.
    pub max_pixels: u64,
}

/// Checks and re-encodes one uploaded photo; `field` names it in errors.
pub fn sanitize(field: &str, raw: &[u8], limits: PhotoLimits) -> Result<Photo, ReportsError> {
    if raw.is_empty() {
        return Err(ReportsError::invalid(field, "berkas foto kosong"));
    }
    if raw.len() > limits.max_bytes {
        return Err(ReportsError::invalid(
            field,
            format!("foto lebih besar dari {} MB", limits.max_bytes.div_ceil(1024 * 1024)),
        ));
    }
    let not_a_photo = || ReportsError::invalid(field, "berkas bukan foto JPEG, PNG atau WebP");
    let format = image::guess_format(raw).map_err(|_| not_a_photo())?;
    let end = match format {
        ImageFormat::Jpeg => jpeg_end(raw),
        ImageFormat::Png => png_end(raw),
        ImageFormat::WebP => webp_end(raw),
        _ => return Err(not_a_photo()),
    }
    .ok_or_else(|| ReportsError::invalid(field, "foto rusak atau tidak lengkap"))?;
    if raw[end..].iter().any(|&b| b != 0) {
        return Err(ReportsError::invalid(
            field,
            "berkas berisi data lain di luar gambarnya; kirim foto aslinya",
        ));
    }

    let mut reader = ImageReader::with_format(Cursor::new(raw), format);
    let mut decode_limits = Limits::default();
    // A side longer than this is not a photo; the pixel limit is checked from the header.
    decode_limits.max_image_width = Some(20_000);
    decode_limits.max_image_height = Some(20_000);
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(decode_limits);
    let unreadable = || ReportsError::invalid(field, "foto tidak dapat dibaca");
    let mut decoder = reader.into_decoder().map_err(|_| unreadable())?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ReportsError::invalid(
            field,
            format!("foto lebih dari {} megapiksel", limits.max_pixels.div_ceil(1_000_000)),
        ));
    }
    let orientation = decoder.orientation().map_err(|_| unreadable())?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| unreadable())?;
    image.apply_orientation(orientation);
    if image.width() > MAX_SIDE || image.height() > MAX_SIDE {
        image = image.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    encode(image).map_err(|e| ReportsError::Internal(format!("encoding a photo: {e}")))
}

/// Photos as JPEG; images with transparency (screenshots, drawings) as PNG.
fn encode(image: DynamicImage) -> Result<Photo, image::ImageError> {
    let (width, height) = (image.width(), image.height());
    let mut out = Vec::new();
    let content_type = if image.color().has_alpha() {
        image
            .to_rgba8()
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?;
        "image/png"
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        image.to_rgb8().write_with_encoder(encoder)?;
        "image/jpeg"
    };
    Ok(Photo {
        content_type,
        bytes: out,
        width,
        height,
    })
}

/// Where a JPEG's end-of-image marker ends: segments are walked by their lengths, and
/// entropy-coded data up to the next marker.
fn jpeg_end(raw: &[u8]) -> Option<usize> {
    if !raw.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    loop {
        if *raw.get(at)? != 0xFF {
            return None;
        }
        while *raw.get(at)? == 0xFF {
            at += 1; // fill bytes
        }
        let marker = raw[at];
        at += 1;
        match marker {
            0xD9 => return Some(at),
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = usize::from(u16::from_be_bytes([*raw.get(at)?, *raw.get(at + 1)?]));
                if len < 2 {
                    return None;
                }
                at = at.checked_add(len)?;
                if at > raw.len() {
                    return None;
                }
                if marker == 0xDA {
                    // Scan data: runs to the next marker that is not a stuffed byte or a
                    // restart marker.
                    loop {
                        let byte = *raw.get(at)?;
                        if byte == 0xFF {
                            let next = *raw.get(at + 1)?;
                            if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                                break;
                            }
                            if next == 0xFF {
                                at += 1;
                                continue;
                            }
                            at += 2;
                        } else {
                            at += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Where a PNG's IEND chunk ends.
fn png_end(raw: &[u8]) -> Option<usize> {
    let mut at = 8;
    loop {
        let len = usize::try_from(u32::from_be_bytes(raw.get(at..at + 4)?.try_into().ok()?)).ok()?;
        let kind = raw.get(at + 4..at + 8)?;
        let end = at.checked_add(12)?.checked_add(len)?;
        if end > raw.len() {
            return None;
        }
        if kind == b"IEND" {
            return Some(end);
        }
        at = end;
    }
}

/// Where a WebP's RIFF container ends.
fn webp_end(raw: &[u8]) -> Option<usize> {
    if raw.get(..4)? != b"RIFF" || raw.get(8..12)? != b"WEBP" {
        return None;
    }
    let len = usize::try_from(u32::from_le_bytes(raw.get(4..8)?.try_into().ok()?)).ok()?;
    let end = 8usize.checked_add(len)?.checked_add(len % 2)?;
    (end <= raw.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PhotoLimits = PhotoLimits {
        max_bytes: 4 * 1024 * 1024,
        max_pixels: 4_000_000,
    };

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
            .unwrap();
        out
    }

    /// `jpeg` with an APP1 segment inserted after SOI.
    fn with_app1(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_photo_is_reencoded_without_its_metadata() {
        let original = with_app1(&jpeg(64, 48), b"Exif\0\0GPS-MARKER-SECRET");
        let photo = sanitize("photo", &original, LIMITS).unwrap();
        assert_eq!(photo.content_type, "image/jpeg");
        assert_eq!((photo.width, photo.height), (64, 48));
        assert!(!photo.bytes.windows(10).any(|w| w == b"GPS-MARKER"));
        assert_eq!(jpeg_end(&photo.bytes), Some(photo.bytes.len()));
    }

    #[test]
    fn orientation_is_applied_before_the_tag_is_dropped() {
        // EXIF with one tag: Orientation = 6 (the camera was turned; rotate 90° clockwise).
        let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
        exif.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        let photo = sanitize("photo", &with_app1(&jpeg(64, 48), &exif), LIMITS).unwrap();
        assert_eq!((photo.width, photo.height), (48, 64), "rotated upright");
    }

    #[test]
    fn type_comes_from_the_content_and_polyglots_are_refused() {
        let field = |r: Result<Photo, ReportsError>| match r {
            Err(ReportsError::Invalid { field, detail }) => (field, detail),
            other => panic!("expected a field error, got {other:?}"),
        };
        let (name, detail) = field(sanitize("photos[0]", b"<html><script>alert(1)</script>", LIMITS));
        assert_eq!(name, "photos[0]");
        assert!(detail.contains("bukan foto"), "{detail}");
        let mut polyglot = jpeg(16, 16);
        polyglot.extend_from_slice(b"PK\x03\x04 a zip archive <script>alert(1)</script>");
        assert!(field(sanitize("photo", &polyglot, LIMITS)).1.contains("data lain"));
        let truncated = jpeg(16, 16);
        assert!(sanitize("photo", &truncated[..truncated.len() / 2], LIMITS).is_err());
        let (_, detail) = field(sanitize(
            "photo",
            &jpeg(16, 16),
            PhotoLimits {
                max_bytes: 10,
                ..LIMITS
            },
        ));
        assert!(detail.contains("lebih besar"), "{detail}");
        let (_, detail) = field(sanitize(
            "photo",
            &jpeg(300, 300),
            PhotoLimits {
                max_pixels: 10_000,
                ..LIMITS
            },
        ));
        assert!(detail.contains("megapiksel"), "{detail}");
    }

    #[test]
    fn png_with_alpha_stays_png_and_large_photos_shrink() {
        let rgba = image::RgbaImage::from_pixel(20, 10, image::Rgba([1, 2, 3, 128]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(rgba)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert_eq!(png_end(&png), Some(png.len()));
        let photo = sanitize("photo", &png, LIMITS).unwrap();
        assert_eq!(photo.content_type, "image/png");
        let big = sanitize("photo", &jpeg(3000, 1000), LIMITS).unwrap();
        assert_eq!((big.width, big.height), (MAX_SIDE, 683));
    }

    #[test]
    fn webp_container_length_is_checked() {
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&4u32.to_le_bytes());
        webp.extend_from_slice(b"WEBP");
        assert_eq!(webp_end(&webp), Some(12));
        webp.extend_from_slice(b"<html>");
        assert_eq!(webp_end(&webp), Some(12), "what follows is refused by sanitize");
        assert_eq!(webp_end(b"RIFF\xff\xff\x00\x00WEBP"), None);
    }
}
