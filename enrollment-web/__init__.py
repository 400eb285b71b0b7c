"""The registration authority's faces: the RA API and the enrollment web pages."""
