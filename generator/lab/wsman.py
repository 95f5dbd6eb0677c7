"""WS-Management SOAP for the lab: parse what pypsrp sends, build what Windows answers.

Only the header field pypsrp checks in a response is `wsa:RelatesTo` (= the request's MessageID);
bodies follow the recorded Windows responses (reference psrp-winrm.md §3).
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
CREATE, DELETE, GET = TRANSFER + "Create", TRANSFER + "Delete", TRANSFER + "Get"
RECEIVE, COMMAND, SEND, SIGNAL = SHELL + "Receive", SHELL + "Command", SHELL + "Send", SHELL + "Signal"
SIGNAL_TERMINATE = SHELL + "signal/Terminate"
# pypsrp 0.9.1 and MS-WSMV spell it ctrl_c; MS-PSRP and PowerShell's own client crtl_c.
SIGNAL_CTRL_C = ("powershell/signal/ctrl_c", "powershell/signal/crtl_c")
COMMAND_DONE = SHELL + "CommandState/Done"
COMMAND_RUNNING = SHELL + "CommandState/Running"
CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
DEFAULT_ENVELOPE = 153600

# WSManFault codes Windows returns (the first is what pypsrp's poll_invoke swallows).
TIMED_OUT = 2150858793  # 0x80338029
SHELL_NOT_FOUND = 2150858843  # 0x8033805B, what is_alive() reads as "gone"
ACTION_NOT_SUPPORTED = 2150858775  # 0x80338017
INTERNAL_ERROR = 2150859046  # 0x80338126
TIMED_OUT_TEXT = (
    "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."
)


class WsmanFault(Exception):
    """A request the lab answers with a SOAP fault."""

    def __init__(
        self, subcode: str, code: int, message: str, status: int = 500, sender: bool = False
    ) -> None:
        super().__init__(message)
        self.subcode, self.code, self.message, self.status, self.sender = (
            subcode,
            code,
            message,
            status,
            sender,
        )


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    shell_id: str | None
    operation_timeout: float
    max_envelope: int
    body: ET.Element


def q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def parse_duration(text: str | None, default: float = 20.0) -> float:
    """xs:duration as pypsrp writes it (`PT20S`, `PT20.000S`, `PT1M5S`) in seconds."""
    match = re.fullmatch(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", (text or "").strip())
    if not text or match is None:
        return default
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return node.text.strip() if node is not None and node.text else None


def parse_request(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise WsmanFault(
            "w:InvalidMessageInformationHeader", INTERNAL_ERROR, f"malformed XML: {error}", 400, True
        ) from None
    header, body = root.find("s:Header", NS), root.find("s:Body", NS)
    if header is None or body is None:
        raise WsmanFault(
            "w:InvalidMessageInformationHeader", INTERNAL_ERROR, "no SOAP header or body", 400, True
        )
    shell_id = None
    for selector in header.findall("w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            shell_id = (selector.text or "").strip()
    envelope = _text(header, "w:MaxEnvelopeSize")
    return Request(
        action=_text(header, "a:Action") or "",
        message_id=_text(header, "a:MessageID") or "",
        resource_uri=_text(header, "w:ResourceURI") or "",
        shell_id=shell_id,
        operation_timeout=parse_duration(_text(header, "w:OperationTimeout")),
        max_envelope=int(envelope) if envelope and envelope.isdigit() else DEFAULT_ENVELOPE,
        body=body,
    )


def envelope(action: str, relates_to: str, body: list[ET.Element] | None = None) -> bytes:
    root = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(root, q("s", "Header"))
    ET.SubElement(header, q("a", "Action")).text = action
    ET.SubElement(header, q("a", "MessageID")).text = "uuid:" + _new_id()
    ET.SubElement(
        header, q("a", "To")
    ).text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    ET.SubElement(header, q("a", "RelatesTo")).text = relates_to
    body_node = ET.SubElement(root, q("s", "Body"))
    for child in body or []:
        body_node.append(child)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False))


def fault(error: WsmanFault, relates_to: str, machine: str) -> bytes:
    node = ET.Element(q("s", "Fault"))
    code = ET.SubElement(node, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = "s:Sender" if error.sender else "s:Receiver"
    ET.SubElement(ET.SubElement(code, q("s", "Subcode")), q("s", "Value")).text = error.subcode
    ET.SubElement(
        ET.SubElement(node, q("s", "Reason")), q("s", "Text"), {"xml:lang": "en-US"}
    ).text = error.message
    detail = ET.SubElement(node, q("s", "Detail"))
    wsman = ET.SubElement(detail, q("f", "WSManFault"), {"Code": str(error.code), "Machine": machine})
    ET.SubElement(wsman, q("f", "Message")).text = error.message
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, [node])


def _new_id() -> str:
    return str(uuid.uuid4()).upper()


def shell_element(
    shell_id: str, resource_uri: str, owner: str, client_ip: str, idle_timeout: float
) -> ET.Element:
    shell = ET.Element(q("rsp", "Shell"))
    for name, value in (
        ("ShellId", shell_id),
        ("ResourceUri", resource_uri),
        ("Owner", owner),
        ("ClientIP", client_ip),
        ("IdleTimeOut", f"PT{idle_timeout:.3f}S"),
        ("InputStreams", "stdin pr"),
        ("OutputStreams", "stdout"),
        ("State", "Connected"),
    ):
        ET.SubElement(shell, q("rsp", name)).text = value
    return shell


def create_response(address: str, shell: ET.Element, resource_uri: str, shell_id: str) -> list[ET.Element]:
    created = ET.Element(q("x", "ResourceCreated"))
    ET.SubElement(created, q("a", "Address")).text = address
    params = ET.SubElement(created, q("a", "ReferenceParameters"))
    ET.SubElement(params, q("w", "ResourceURI")).text = resource_uri
    selectors = ET.SubElement(params, q("w", "SelectorSet"))
    ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = shell_id
    return [created, shell]


def receive_response(chunks: list[bytes], command_id: str | None, done: bool) -> list[ET.Element]:
    response = ET.Element(q("rsp", "ReceiveResponse"))
    attrs = {"Name": "stdout"}
    if command_id is not None:
        attrs["CommandId"] = command_id
    if chunks:
        ET.SubElement(response, q("rsp", "Stream"), attrs).text = base64.b64encode(b"".join(chunks)).decode()
    if command_id is not None:
        state = COMMAND_DONE if done else COMMAND_RUNNING
        node = ET.SubElement(response, q("rsp", "CommandState"), {"CommandId": command_id, "State": state})
        if done:
            ET.SubElement(node, q("rsp", "ExitCode")).text = "0"
    return [response]


def command_response(command_id: str) -> list[ET.Element]:
    response = ET.Element(q("rsp", "CommandResponse"))
    ET.SubElement(response, q("rsp", "CommandId")).text = command_id
    return [response]


def simple(name: str) -> list[ET.Element]:
    return [ET.Element(q("rsp", name))]


def config_response(max_envelope_kb: int) -> list[ET.Element]:
    config = ET.Element(q("cfg", "Config"))
    ET.SubElement(config, q("cfg", "MaxEnvelopeSizekb")).text = str(max_envelope_kb)
    return [config]
