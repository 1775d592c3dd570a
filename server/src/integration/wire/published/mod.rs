//! The published program-side REST shape (issue 12): its documents, checked field by field
//! under their published paths, and translated into GridFlex's own flow messages so the same
//! inbox and handlers serve both. One module per published flow; `status_check` is the one
//! request the grid side serves (flow 3).

mod acks;
mod common;
mod enroll;
mod enroll_request;
mod participation;
mod program_event;
mod request;
mod status_check;

pub use acks::{
    device_answers, DeviceStatusResponseDocument, PublishedCommunication, PublishedRegistration,
    RegistrationAckDocument, COMMUNICATION_STATUSES, REGISTRATION_STATUSES,
};
pub use common::{
    device_id, instant, message_id, RecordAck, RecordAckItem, MAX_EXTERNAL_ID_CHARS,
    MAX_HEAD_END_CHARS, MAX_NIC_ID_CHARS,
};
pub use common::{
    DEVICE_STATUS_PATH, ENROLLMENT_ACK_PATH, ENROLL_PATH, LIFECYCLE_PATH, OUTCOME_PATH,
    PROGRAM_EVENT_PATH, RESERVE_PATH, STATUS_CHECK_PATH,
};
pub use enroll::{
    device_type_of, ownership_of, published_ack, published_field, read_back, EnrollAck,
    EnrollAckItem, EnrollDocument, PublishedAsset, PublishedExtras, ACK_ERROR, ACK_FAILURE,
    ACK_SUCCESS, ALREADY_EXISTS_MESSAGE_NBR, MAX_TRANSACTION_ID_CHARS,
};
pub use enroll_request::{enrollment_result, published_enrollments, rejected_result};
pub use participation::{
    OutcomeDocument, PublishedOutcome, PublishedReservation, ReserveDocument, StagePart,
    MAX_ERROR_MESSAGE_CHARS,
};
pub use program_event::{
    KnownStage, LifecycleDocument, ProgramEventDocument, MAX_CANCEL_REASON_CHARS, NO_CANCEL_REASON,
};
pub use request::published_request;
pub use status_check::{
    status_response, CheckedDevice, MsgAck, MsgAckResponse, StatusCheckDocument,
};
