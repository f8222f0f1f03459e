# daemon/
