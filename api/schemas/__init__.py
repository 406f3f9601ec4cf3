"""Request and response bodies at the HTTP edge (Pydantic), one module per resource.

Stored rows reach clients only through these response models; services never see them.
"""
