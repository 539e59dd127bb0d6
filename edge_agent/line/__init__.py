"""Line performance per ISO 22400-2: state timelines, OEE, losses, shifts, OPC UA source."""
