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

/// A decoded photo, and what the user should hear about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub image: RgbImage,
    /// E.g. a JPEG whose end is missing (the decoder fills the rest with grey).
    pub warning: Option<String>,
}

/// Decodes a photo (PNG, JPEG; alpha dropped) into RGB.
pub fn load_photo(path: &Path, kind: PhotoKind) -> Result<Photo, ModelError> {
    let unreadable = |reason: String| ModelError::Unreadable { what: kind.as_str(), path: path.to_path_buf(), reason };
    if !path.exists() {
        return Err(ModelError::Missing { what: kind.as_str(), path: path.to_path_buf() });
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let img = image::load_from_memory(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let rgb = img.to_rgb8();
    let image = RgbImage::from_raw(rgb.width() as usize, rgb.height() as usize, rgb.into_raw());
    // A JPEG ends with the EOI marker; the decoder accepts a file cut short and makes up the rest.
    let truncated = bytes.starts_with(&[0xff, 0xd8]) && !bytes.trim_ascii_end().ends_with(&[0xff, 0xd9]);
    let warning = truncated.then(|| {
        format!(
            "{} {} looks truncated (no JPEG end marker): the part that decoded is used",
            kind.as_str(),
            path.display()
        )
    });
    Ok(Photo { image, warning })
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
        let Photo { image: photo, warning } = load_photo(path, PhotoKind::Source)?;
        notes.extend(warning);
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
            check_embedding(&e[0]).map_err(|reason| ModelError::Unreadable {
                what: "recognizer output for the source photo",
                path: path.to_path_buf(),
                reason,
            })?;
            sum.iter_mut().zip(&e[0]).for_each(|(s, v)| *s += v);
        }
    }
    let mut identity = SourceIdentity { crop, ..Default::default() };
    if let Some(r) = recognizer {
        let mean: Vec<f32> = sum.iter().map(|s| s / paths.len() as f32).collect();
        let generator_identity = r.to_generator_identity(&mean)?;
        check_embedding(&generator_identity).map_err(|reason| ModelError::Unreadable {
            what: "converter output for the source photos",
            path: paths[0].to_path_buf(),
            reason,
        })?;
        identity.generator_identity = Some(generator_identity);
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
    let values: Vec<f32> = payload.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    check_embedding(&values).map_err(unreadable)?;
    Ok(values)
}

/// An identity the generator can use: the right length, every value finite, not all zero.
pub fn check_embedding(values: &[f32]) -> Result<(), String> {
    if values.len() != EMBEDDING_SIZE {
        return Err(format!("{} values; expected {EMBEDDING_SIZE}", values.len()));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("value {i} is {} (not finite)", values[i]));
    }
    if values.iter().all(|&v| v == 0.0) {
        return Err("every value is 0 (zero norm: no identity)".into());
    }
    Ok(())
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
    // The documented shapes: (512,) or (1, 512); (2, 256) holds 512 values but is not an identity.
    let shape = npy_shape(&header).ok_or_else(|| format!("no shape in the header {}", header.trim()))?;
    if shape != [EMBEDDING_SIZE] && shape != [1, EMBEDDING_SIZE] {
        return Err(format!("the array has shape {shape:?}; expected ({EMBEDDING_SIZE},) or (1, {EMBEDDING_SIZE})"));
    }
    Ok(&bytes[start + len..])
}

/// The `'shape': (a, b, ...)` of a .npy header.
fn npy_shape(header: &str) -> Option<Vec<usize>> {
    let after = &header[header.find("'shape'")? + "'shape'".len()..];
    let inner = &after[after.find('(')? + 1..];
    let inner = &inner[..inner.find(')')?];
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect()
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

    /// A version 1 .npy file of float32 `values` with the given shape text, e.g. "(2, 256)".
    fn npy(shape: &str, values: &[f32]) -> Vec<u8> {
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out
    }

    #[test]
    fn identities_must_have_the_documented_shape_and_be_finite_and_non_zero() {
        let dir = std::env::temp_dir().join(format!("ghost-emb-checks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good: Vec<f32> = (0..512).map(|i| (i as f32 * 0.37).sin()).collect();
        let read = |name: &str, bytes: Vec<u8>| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            read_embedding(&path)
        };
        assert_eq!(read("a.npy", npy("(512,)", &good)).unwrap(), good);
        assert_eq!(read("b.npy", npy("(1, 512)", &good)).unwrap(), good);
        let err = read("c.npy", npy("(2, 256)", &good)).unwrap_err().to_string();
        assert!(err.contains("shape [2, 256]") && err.contains("c.npy"), "{err}");
        let mut nan = good.clone();
        nan[17] = f32::NAN;
        let err = read("d.npy", npy("(512,)", &nan)).unwrap_err().to_string();
        assert!(err.contains("value 17") && err.contains("not finite"), "{err}");
        let raw_inf: Vec<u8> = good
            .iter()
            .enumerate()
            .flat_map(|(i, v)| (if i == 3 { f32::INFINITY } else { *v }).to_le_bytes())
            .collect();
        assert!(read("e.bin", raw_inf).unwrap_err().to_string().contains("not finite"));
        let err = read("f.npy", npy("(512,)", &[0.0; 512])).unwrap_err().to_string();
        assert!(err.contains("zero norm"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
