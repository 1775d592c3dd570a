//! The published program-side REST shape (issue 12): its documents, checked field by field
//! under their published paths, and translated into GridFlex's own flow messages so the same
//! inbox and handlers serve both. One module per published flow.

mod enroll;

pub use enroll::{
    device_type_of, ownership_of, published_ack, published_field, read_back, EnrollAck,
    EnrollAckItem, EnrollDocument, PublishedAsset, PublishedExtras, ACK_ERROR, ACK_FAILURE,
    ACK_SUCCESS, ALREADY_EXISTS_MESSAGE_NBR, MAX_TRANSACTION_ID_CHARS,
};
