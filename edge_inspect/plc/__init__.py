"""The PLC handshake: the register map (pure, ``registers``), the handshake's state (``handshake``),
the Modbus TCP server serving it (``modbus``), the reject output (``reject``), and the link that the
station wires and starts (``link.PlcLink``). pymodbus (extra ``plc``) is imported only when used."""
