//! Points and directions on the map: a plain `f32` pair.

use std::ops::{Add, Mul, Sub};

use serde::Deserialize;

/// A point or a direction, in map units (x to the right, y down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vec2 {
    pub x: f32,
    pub y: f32,
}

impl Vec2 {
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    pub const fn new(x: f32, y: f32) -> Vec2 {
        Vec2 { x, y }
    }

    pub fn length(self) -> f32 {
        self.x.hypot(self.y)
    }

    pub fn distance(self, other: Vec2) -> f32 {
        (self - other).length()
    }

    pub fn distance_squared(self, other: Vec2) -> f32 {
        let d = self - other;
        d.x * d.x + d.y * d.y
    }

    /// The unit vector in this direction, or `None` for (almost) zero or non-finite vectors.
    pub fn normalized(self) -> Option<Vec2> {
        let len = self.length();
        (len.is_finite() && len > 1e-6).then(|| self * (1.0 / len))
    }

    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }

    /// This point moved at most `max` towards `to`.
    pub fn step_towards(self, to: Vec2, max: f32) -> Vec2 {
        let d = to - self;
        let len = d.length();
        if len <= max || len <= 1e-6 { to } else { self + d * (max / len) }
    }

    /// This point clamped into the rectangle `[0, width] x [0, height]`.
    pub fn clamp_to(self, width: f32, height: f32) -> Vec2 {
        Vec2 { x: self.x.clamp(0.0, width), y: self.y.clamp(0.0, height) }
    }
}

impl Add for Vec2 {
    type Output = Vec2;
    fn add(self, o: Vec2) -> Vec2 {
        Vec2 { x: self.x + o.x, y: self.y + o.y }
    }
}

impl Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, o: Vec2) -> Vec2 {
        Vec2 { x: self.x - o.x, y: self.y - o.y }
    }
}

impl Mul<f32> for Vec2 {
    type Output = Vec2;
    fn mul(self, k: f32) -> Vec2 {
        Vec2 { x: self.x * k, y: self.y * k }
    }
}

impl From<Vec2> for mmo_proto::Vec2 {
    fn from(v: Vec2) -> mmo_proto::Vec2 {
        mmo_proto::Vec2 { x: v.x, y: v.y }
    }
}

impl From<mmo_proto::Vec2> for Vec2 {
    fn from(v: mmo_proto::Vec2) -> Vec2 {
        Vec2 { x: v.x, y: v.y }
    }
}
