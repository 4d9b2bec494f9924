//! Socket handlers not yet moved onto the service layer.

pub mod weights;
