//! A series preview: its middle image rendered to PNG, for people allowed to see images.
//!
//! The PNG holds pixels only: no text chunk, no header value. The window (VOI LUT) comes
//! from the instance's own Window Center/Width (or its VOI LUT), after the modality LUT
//! (rescale), as a viewer would show it; without one the pixel range is normalised.
//! Identifiers burned into the pixels by a modality (a rare practice, flagged by Burned In
//! Annotation) are not removed; such series should not be previewed.

use std::io::Cursor;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption};
use image::ImageFormat;
use medlake_catalog::{Catalog, ImagingLocator};

use crate::dicomweb::DicomWebSource;
use crate::orthanc::OrthancSource;
use crate::ImagingError;

/// The longest side of a preview, in pixels.
pub const PREVIEW_SIZE: u32 = 512;

/// The PNG of the middle instance (by instance number) of series `series`, fetched from
/// wherever it was ingested from. `login` is the PACS login for PACS sources.
pub async fn preview_series(
    catalog: &Catalog,
    series: &str,
    login: Option<(String, String)>,
) -> Result<Vec<u8>, ImagingError> {
    let locators = catalog.imaging_locators_of_series(series)?;
    let Some(middle) = locators.get(locators.len() / 2) else {
        return Err(ImagingError::Preview(
            "no instance of this series can be read".into(),
        ));
    };
    let bytes = fetch(middle, login).await?;
    tokio::task::spawn_blocking(move || render_png(&bytes))
        .await
        .map_err(|_| ImagingError::Preview("the renderer stopped".into()))?
}

/// The Part 10 bytes an instance was ingested from.
pub async fn fetch(
    locator: &ImagingLocator,
    login: Option<(String, String)>,
) -> Result<Vec<u8>, ImagingError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        ImagingError::Preview(format!("the instance cannot be read from its source: {e}"))
    };
    if let Some(id) = locator.locator.strip_prefix("orthanc:") {
        let base = locator
            .source
            .strip_prefix("orthanc+")
            .unwrap_or(&locator.source);
        let url = url::Url::parse(base).map_err(|e| unreachable(&e))?;
        return OrthancSource::new(&url, login)?.instance_file(id).await;
    }
    if let Some(base) = locator.source.strip_prefix("dicomweb+") {
        let url = url::Url::parse(base).map_err(|e| unreachable(&e))?;
        return DicomWebSource::new(&url, login)?
            .retrieve(&locator.locator)
            .await;
    }
    tokio::fs::read(&locator.locator)
        .await
        .map_err(|e| unreachable(&e.kind()))
}

/// Renders the middle frame of a Part 10 object to a PNG no larger than [`PREVIEW_SIZE`].
pub fn render_png(bytes: &[u8]) -> Result<Vec<u8>, ImagingError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ImagingError::Preview(format!("{what}: {e}"));
    let object = std::panic::catch_unwind(|| OpenFileOptions::new().from_reader(bytes))
        .map_err(|_| ImagingError::Preview("the DICOM reader failed on this object".into()))?
        .map_err(|e| fail("unreadable DICOM object", &e))?;
    if object
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .is_none()
    {
        return Err(ImagingError::Preview("the object has no image".into()));
    }
    let frames = object
        .element_opt(Tag(0x0028, 0x0008))
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let frame = frames / 2;
    let decoded = object
        .decode_pixel_data_frame(frame)
        .map_err(|e| fail("the pixel data cannot be decoded", &e))?;
    let options = ConvertOptions::new()
        .with_voi_lut(VoiLutOption::Default)
        .force_8bit();
    let image = decoded
        .to_dynamic_image_with_options(0, &options)
        .map_err(|e| fail("the image cannot be rendered", &e))?;
    let image = if image.width().max(image.height()) > PREVIEW_SIZE {
        image.thumbnail(PREVIEW_SIZE, PREVIEW_SIZE)
    } else {
        image
    };
    let mut png = Cursor::new(Vec::new());
    image
        .write_to(&mut png, ImageFormat::Png)
        .map_err(|e| fail("the PNG cannot be written", &e))?;
    Ok(png.into_inner())
}
