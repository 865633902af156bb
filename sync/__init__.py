"""Both ends of the wire: the record and receipt formats, the kiosk's uploader and the server."""
