"""DetectionService RPCs of one area (media: CreateMedia, CreateMyMedia, UploadMedia, DownloadMedia, GetMediaUrl, GetMedia, ListMedia, DeleteMedia), mixed into DetectionServicer."""

from __future__ import annotations


class MediaRpcs:
    pass
