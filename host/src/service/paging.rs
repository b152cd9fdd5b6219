//! Paging shared by every listing: page sizes, and cursors that clients hold as opaque
//! text (the store's own position, in URL-safe base64 JSON).

use super::ServiceError;
use base64::Engine as _;

/// The most rows one page holds.
pub const MAX_PAGE: usize = 500;

/// Refuses a page size outside 1 to [`MAX_PAGE`].
pub fn check_page_size(limit: usize) -> Result<(), ServiceError> {
    match (1..=MAX_PAGE).contains(&limit) {
        true => Ok(()),
        false => Err(ServiceError::BadPageSize(limit)),
    }
}

/// A store position as a client holds it.
pub fn encode_cursor<T: serde::Serialize>(cursor: &T) -> String {
    let json = serde_json::to_vec(cursor).expect("plain data");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// A client's cursor back as the store position it came from.
pub fn decode_cursor<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ServiceError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| ServiceError::BadCursor(text.chars().take(80).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AssetCursor;

    #[test]
    fn cursors_read_back_and_garbage_is_refused() {
        let cursor = AssetCursor {
            name_key: "vm-011".into(),
            id: "a/1".into(),
        };
        let text = encode_cursor(&cursor);
        assert_eq!(decode_cursor::<AssetCursor>(&text).unwrap(), cursor);
        assert!(matches!(
            decode_cursor::<AssetCursor>("not base64!"),
            Err(ServiceError::BadCursor(_))
        ));
        assert!(check_page_size(0).is_err() && check_page_size(MAX_PAGE + 1).is_err());
        assert!(check_page_size(1).is_ok() && check_page_size(MAX_PAGE).is_ok());
    }
}
