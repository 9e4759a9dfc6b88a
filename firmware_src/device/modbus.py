"""Modbus RTU master: CRC16, framing, timeouts and retries, register decoding.

The serial port is anything with `write(data)` and `read(nbytes, timeout_ms)` (returns what arrived
before the timeout); the ESP32 HAL wraps a UART with RS485 direction control, the host HAL a simulated meter.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import struct


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data):
    """Modbus CRC16 (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(frame):
    crc = crc16(frame)
    return bytes(frame) + bytes([crc & 0xFF, crc >> 8])


def crc_ok(frame):
    return len(frame) >= 4 and crc16(frame[:-2]) == (frame[-2] | (frame[-1] << 8))


class ModbusError(Exception):
    pass


class ModbusTimeout(ModbusError):
    pass


class ModbusCrcError(ModbusError):
    pass


class ModbusExceptionResponse(ModbusError):
    """The slave answered with an exception code (1 illegal function, 2 illegal address, ...)."""

    def __init__(self, code):
        super().__init__("slave exception code %d" % code)
        self.code = code


READ_HOLDING = 0x03
READ_INPUT = 0x04
WRITE_SINGLE = 0x06
MAX_READ_COUNT = 125


def read_request(slave, function, start, count):
    return with_crc(struct.pack(">BBHH", slave, function, start, count))


def write_single_request(slave, register, value):
    return with_crc(struct.pack(">BBHH", slave, WRITE_SINGLE, register, value))


def _check_header(frame, slave, function):
    if len(frame) == 0:
        raise ModbusTimeout("no answer")
    if len(frame) >= 5 and frame[1] == (function | 0x80) and crc_ok(frame[:5]):
        raise ModbusExceptionResponse(frame[2])
    if not crc_ok(frame):
        raise ModbusCrcError("bad CRC or short frame (%d bytes)" % len(frame))
    if frame[0] != slave or frame[1] != function:
        raise ModbusError("answer from slave %d function %d, expected %d/%d" % (frame[0], frame[1], slave, function))


def parse_read_response(frame, slave, function, count):
    """Registers of a 0x03/0x04 answer as a list of 16-bit ints."""
    _check_header(frame, slave, function)
    if frame[2] != 2 * count or len(frame) != 5 + 2 * count:
        raise ModbusError("byte count %d, expected %d" % (frame[2], 2 * count))
    return list(struct.unpack(">" + "H" * count, bytes(frame[3:3 + 2 * count])))


def parse_write_single_response(frame, slave, register, value):
    _check_header(frame, slave, WRITE_SINGLE)
    if len(frame) != 8 or struct.unpack(">HH", bytes(frame[2:6])) != (register, value):
        raise ModbusError("write echo does not match")


def regs_to_float(high, low):
    """IEEE-754 float32, big-endian, high word first (the Acuvim II order)."""
    return struct.unpack(">f", struct.pack(">HH", high, low))[0]


def regs_to_uint32(high, low):
    return (high << 16) | low


def float_to_regs(value):
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def uint32_to_regs(value):
    value = int(value) & 0xFFFFFFFF
    return [value >> 16, value & 0xFFFF]


class ModbusMaster:
    """One RS485 bus: request/answer with a timeout, retried on timeouts and corrupt frames."""

    def __init__(self, port, timeout_ms=300, retries=2):
        self.port = port
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.errors = 0

    def _transact(self, request, expected_len, parse):
        last_error = None
        for _ in range(self.retries + 1):
            self.port.write(request)
            frame = self.port.read(expected_len, self.timeout_ms)
            try:
                return parse(frame)
            except ModbusExceptionResponse:
                self.errors += 1
                raise
            except ModbusError as error:
                self.errors += 1
                last_error = error
        raise last_error

    def read_registers(self, slave, start, count, function=READ_HOLDING):
        if function not in (READ_HOLDING, READ_INPUT):
            raise ValueError("function must be 3 or 4")
        if not 1 <= count <= MAX_READ_COUNT or not 0 <= start <= 0xFFFF:
            raise ValueError("count must be 1-125 and start 0-65535")
        request = read_request(slave, function, start, count)
        return self._transact(request, 5 + 2 * count, lambda f: parse_read_response(f, slave, function, count))

    def write_register(self, slave, register, value):
        request = write_single_request(slave, register, value)
        self._transact(request, 8, lambda f: parse_write_single_response(f, slave, register, value))
