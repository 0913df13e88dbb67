// Package presence owns zoomsync's presence vocabulary and the
// effective-status function (Effective); the fan-out to targets is its
// subpackage target.
//
// Zoom spells the same presence differently on each surface: the REST
// GET/PUT /users/{id}/presence_status enum says In_A_Zoom_Meeting and
// On_A_Call (its prose says In_A_Meeting and In_A_Call, and its self-DND
// branch is typed Do_No_Disturb), while the user.presence_status_updated
// webhook says In_Meeting, On_Phone_Call and Mobile_signed_in. Contact
// Center agent statuses arrive as string ids ("0".."3") with display
// names, plus account-defined custom statuses.
//
// Invariants:
//   - ParseZoomStatus is the single place a Zoom presence spelling becomes a
//     canonical Status (SPEC §5). Matching ignores case, spaces, hyphens
//     and underscores, so "In a Meeting" and "IN_A_MEETING" agree.
//   - A spelling that is not recognised maps to Unknown, never to a
//     guess; the raw spelling is kept by the caller for display.
//   - ParseAgentStatus maps a Contact Center (status_id, status_name) pair
//     to an AgentStatus: the four system statuses by id, anything else is
//     a custom status carried by its name.
package presence
