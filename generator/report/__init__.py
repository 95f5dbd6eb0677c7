"""`sslbind report`: one self-contained HTML page of a change record for the change ticket.

Kept empty so that loading the CLI (which registers `report`) loads none of the report's modules.
"""
