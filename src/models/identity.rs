// SPDX-License-Identifier: MIT OR Apache-2.0
//! The source identity: computed once per source (never per frame) from one or more photos, or
//! read from an embedding file.

use std::path::Path;

use super::align::{generator_crop, CropMode};
use super::detector::{Detection, Detector, DetectorParams};
use super::recognizer::{Recognizer, EMBEDDING_SIZE};
use super::{ModelError, PhotoKind};
use crate::vision::{PackedFrame, RgbImage};

/// What the swapper needs of the source person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceIdentity {
    /// The averaged raw recognizer embedding (what `embedding-out` saves).
    pub embedding: Option<Vec<f32>>,
    /// The generator's identity input (after the converter, for w600k recognizers).
    pub generator_identity: Option<Vec<f32>>,
    /// The aligned 256 crop of the first photo's face (for the `paste` baseline).
    pub crop: Option<RgbImage>,
}

const EMBEDDING_FILE: &str = "embedding file";

/// Decodes a photo (PNG, JPEG; alpha dropped) into RGB.
pub fn load_photo(path: &Path, kind: PhotoKind) -> Result<RgbImage, ModelError> {
    if !path.exists() {
        return Err(ModelError::Missing { what: kind.as_str(), path: path.to_path_buf() });
    }
    let img = image::open(path).map_err(|e| ModelError::Unreadable {
        what: kind.as_str(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let rgb = img.to_rgb8();
    Ok(RgbImage::from_raw(rgb.width() as usize, rgb.height() as usize, rgb.into_raw()))
}

/// The largest face of a photo; several faces are fine (the caller logs the count).
pub fn largest_face(
    detector: &mut Detector,
    photo: &RgbImage,
    path: &Path,
    kind: PhotoKind,
) -> Result<(Detection, usize), ModelError> {
    let frame = PackedFrame::from_rgb(photo);
    let faces = detector.detect(&frame, &DetectorParams::default())?;
    let count = faces.len();
    let area = |d: &Detection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
    let best = faces
        .into_iter()
        .max_by(|a, b| area(a).total_cmp(&area(b)))
        .ok_or_else(|| ModelError::NoFace { what: kind.as_str(), path: path.to_path_buf() })?;
    Ok((best, count))
}

/// Computes the identity from photos: the largest face of each, its embedding, the average of the
/// raw embeddings (then the converter), and the first photo's crop for `paste`.
/// Returns the identity and human-readable notes (e.g. several faces in a photo).
pub fn identity_from_photos(
    paths: &[&Path],
    detector: &mut Detector,
    recognizer: Option<&Recognizer>,
    crop_mode: CropMode,
) -> Result<(SourceIdentity, Vec<String>), ModelError> {
    assert!(!paths.is_empty(), "the caller checks that a source photo is given");
    let mut notes = Vec::new();
    let mut sum = vec![0.0f32; EMBEDDING_SIZE];
    let mut crop = None;
    for path in paths {
        let photo = load_photo(path, PhotoKind::Source)?;
        let (face, count) = largest_face(detector, &photo, path, PhotoKind::Source)?;
        if count > 1 {
            notes.push(format!("{} has {count} faces; using the largest", path.display()));
        }
        let frame = PackedFrame::from_rgb(&photo);
        if crop.is_none() {
            crop = Some(generator_crop(&frame, &face.keypoints, crop_mode).0);
        }
        if let Some(r) = recognizer {
            let e = r.embed(&frame, &[face.keypoints])?;
            sum.iter_mut().zip(&e[0]).for_each(|(s, v)| *s += v);
        }
    }
    let mut identity = SourceIdentity { crop, ..Default::default() };
    if let Some(r) = recognizer {
        let mean: Vec<f32> = sum.iter().map(|s| s / paths.len() as f32).collect();
        identity.generator_identity = Some(r.to_generator_identity(&mean)?);
        identity.embedding = Some(mean);
    }
    Ok((identity, notes))
}

/// Reads 512 float32 values: a `.npy` file (float32, little-endian) or raw little-endian bytes.
pub fn read_embedding(path: &Path) -> Result<Vec<f32>, ModelError> {
    let unreadable = |reason: String| ModelError::Unreadable { what: EMBEDDING_FILE, path: path.to_path_buf(), reason };
    if !path.exists() {
        return Err(ModelError::Missing { what: EMBEDDING_FILE, path: path.to_path_buf() });
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let payload = if bytes.starts_with(b"\x93NUMPY") { npy_payload(&bytes).map_err(unreadable)? } else { &bytes[..] };
    if payload.len() != EMBEDDING_SIZE * 4 {
        return Err(unreadable(format!(
            "it holds {} bytes of data; expected {EMBEDDING_SIZE} float32 values ({} bytes)",
            payload.len(),
            EMBEDDING_SIZE * 4
        )));
    }
    Ok(payload.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// Writes an embedding: `.npy` when the path ends with it, raw little-endian float32 otherwise.
pub fn write_embedding(path: &Path, values: &[f32]) -> Result<(), ModelError> {
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "npy") {
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", values.len());
        // Magic (6) + version (2) + length (2) + header + newline must be a multiple of 64.
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
    }
    values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    std::fs::write(path, out).map_err(|e| ModelError::Unwritable {
        what: EMBEDDING_FILE,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The data part of a version 1/2 `.npy` file holding little-endian float32 in C order.
fn npy_payload(bytes: &[u8]) -> Result<&[u8], String> {
    let (len, start) = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        Some(2 | 3) if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        _ => return Err("unsupported .npy version".into()),
    };
    let header = bytes.get(start..start + len).ok_or("truncated .npy header")?;
    let header = String::from_utf8_lossy(header);
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(format!("expected little-endian float32 in C order, found header {}", header.trim()));
    }
    Ok(&bytes[start + len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_round_trip_as_npy_and_raw() {
        let values: Vec<f32> = (0..512).map(|i| i as f32 * 0.25 - 7.0).collect();
        let dir = std::env::temp_dir();
        for name in ["ghost-emb-test.npy", "ghost-emb-test.bin"] {
            let path = dir.join(format!("{}-{name}", std::process::id()));
            write_embedding(&path, &values).unwrap();
            assert_eq!(read_embedding(&path).unwrap(), values);
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn wrong_sized_embeddings_are_rejected() {
        let path = std::env::temp_dir().join(format!("{}-ghost-emb-short.bin", std::process::id()));
        std::fs::write(&path, [0u8; 100]).unwrap();
        let err = read_embedding(&path).unwrap_err();
        assert!(matches!(err, ModelError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("expected 512 float32"), "{err}");
        let _ = std::fs::remove_file(&path);
        assert!(matches!(read_embedding(&path), Err(ModelError::Missing { .. })));
    }
}
